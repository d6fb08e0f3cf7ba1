"""The Slack and Teams edges' fixtures (a running bot over real HTTP, the local fakes of Slack and the Bot
Connector), shared with the security suite."""

from tests.edges.slack.conftest import fake, start_bot  # noqa: F401
from tests.edges.teams.conftest import connector, make_bot  # noqa: F401
