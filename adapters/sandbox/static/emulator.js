// The sandbox page: a Slack channel and a Teams chat with the real bot. The server (adapters/sandbox/emulator.py)
// plays Slack and Teams towards the bot; this page shows what it holds and tells it what the person did.
// Every change arrives as an event on /emulator/api/events, then the page asks for the state again and
// re-renders only the messages that changed, in place.

import { el, emojify, inputValues, mrkdwn, renderBlocks } from "./blockkit.js";
import { renderCard } from "./adaptivecards.js";

const api = {
  async get(path) {
    const response = await fetch(path, { cache: "no-store" });
    if (!response.ok) throw new Error(`${path}: ${response.status}`);
    return response.json();
  },
  async post(path, body) {
    const response = await fetch(path, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.error ?? `${path}: ${response.status}`);
    return data;
  },
};

const params = new URLSearchParams(location.search);
const state = {
  workspace: null,
  viewer: params.get("as") ?? "",
  platform: params.get("platform") === "teams" ? "teams" : "slack",
  slackView: params.get("view") === "app" ? "app" : "channel",
  appTab: "home",
  slack: { messages: [], modal: null, home: null },
  teams: { messages: [] },
  live: false,
};

// What the page showed, for people who want to see what happened and for the browser tests:
// every render of a message is logged with its text.
const renders = [];
window.sandbox = { state, renders };

const $ = (id) => document.getElementById(id);
const PALETTE = ["#2BAC76", "#E8912D", "#1264A3", "#CD2553", "#9B51E0", "#0E8A8A", "#D25C34", "#4A7DFF"];

function member(id) {
  return state.workspace?.members.find((m) => m.id === id);
}

function initials(name) {
  return name.split(/\s+/).filter(Boolean).slice(0, 2).map((w) => w[0].toUpperCase()).join("");
}

function colour(id) {
  let h = 0;
  for (const c of id) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return PALETTE[h % PALETTE.length];
}

function avatarFor(author, className = "avatar") {
  if (author.kind === "bot") {
    const img = el("img", `${className} avatar--bot`);
    img.src = state.workspace?.bot.avatar ?? "";
    img.alt = "";
    return img;
  }
  if (author.kind === "slackbot") return el("span", `${className} avatar--slackbot`, "🤖");
  const node = el("span", className, initials(author.name));
  node.style.background = colour(author.id);
  return node;
}

function clock(seconds) {
  return new Date(seconds * 1000).toLocaleTimeString([], { hour: "numeric", minute: "2-digit" });
}

function fullDate(seconds) {
  return new Date(seconds * 1000).toLocaleString([], { dateStyle: "full", timeStyle: "medium" });
}

function toast(text) {
  const node = $("toast");
  node.textContent = text;
  node.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { node.hidden = true; }, 4000);
}

const blockContext = () => ({
  userName: (id) => member(id)?.name,
  members: state.workspace?.members ?? [],
  channels: state.workspace ? [state.workspace.channel] : [],
});

// ---------------------------------------------------------------- refreshing

let refreshing = null;
let again = false;

async function refresh() {
  if (!state.viewer) return;
  if (refreshing) {
    again = true;
    return refreshing;
  }
  refreshing = (async () => {
    do {
      again = false;
      try {
        const viewer = encodeURIComponent(state.viewer);
        const [slack, teams] = await Promise.all([
          api.get(`/emulator/api/slack?user=${viewer}`),
          state.workspace.teams.enabled ? api.get(`/emulator/api/teams?user=${viewer}`) : null,
        ]);
        state.slack = slack;
        if (teams) state.teams = teams;
        render();
      } catch (error) {
        console.warn("refresh failed", error);
      }
    } while (again);
    refreshing = null;
  })();
  return refreshing;
}

function listen() {
  const events = new EventSource("/emulator/api/events");
  const status = $("connection-status");
  events.addEventListener("hello", () => {
    state.live = true;
    status.classList.remove("is-down");
    status.querySelector(".label").textContent = "Live · local only";
    refresh();
  });
  events.addEventListener("change", () => refresh());
  events.addEventListener("error", () => {
    state.live = false;
    status.classList.add("is-down");
    status.querySelector(".label").textContent = "Sandbox stopped · run make demo";
  });
}

function render() {
  renderPlatform();
  renderSlack();
  renderTeams();
}

function renderPlatform() {
  for (const tab of document.querySelectorAll(".sandbox-bar__tabs [role=tab]")) {
    tab.setAttribute("aria-selected", String(tab.dataset.platform === state.platform));
  }
  $("slack").hidden = state.platform !== "slack";
  $("teams").hidden = state.platform !== "teams";
  const viewer = member(state.viewer);
  const avatar = $("viewer-avatar");
  if (viewer) {
    avatar.textContent = initials(viewer.name);
    avatar.style.background = colour(viewer.id);
  }
}

function remember() {
  const query = new URLSearchParams({ as: state.viewer });
  if (state.platform === "teams") query.set("platform", "teams");
  if (state.slackView === "app") query.set("view", "app");
  window.history.replaceState(null, "", `?${query}`);
}

// ---------------------------------------------------------------- keyed, in-place lists

function reconcile(list, items, key, signature, build) {
  const existing = new Map([...list.children].map((node) => [node.dataset.key, node]));
  let previous = null;
  const keep = new Set();
  for (const item of items) {
    const id = key(item);
    keep.add(id);
    const sig = signature(item);
    let node = existing.get(id);
    if (!node || node.dataset.sig !== sig) {
      const fresh = build(item);
      fresh.dataset.key = id;
      fresh.dataset.sig = sig;
      fresh.dataset.revision = String(node ? Number(node.dataset.revision) + 1 : 1);
      if (node) {
        node.replaceWith(fresh);
        if (node.dataset.grouped === fresh.dataset.grouped) flash(fresh);
      }
      node = fresh;
    }
    const expected = previous ? previous.nextElementSibling : list.firstElementChild;
    if (node !== expected) {
      if (previous) previous.after(node);
      else list.prepend(node);
    }
    previous = node;
  }
  for (const [id, node] of existing) if (!keep.has(id)) node.remove();
}

function flash(node) {
  node.classList.add("is-updated");
  setTimeout(() => node.classList.remove("is-updated"), 1400);
}

function stickToBottom(scroller, work) {
  const near = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 120;
  const before = scroller.scrollHeight;
  work();
  if (near && scroller.scrollHeight !== before) scroller.scrollTop = scroller.scrollHeight;
}

// ---------------------------------------------------------------- Slack

function slackVisible() {
  return state.slack.messages.filter((m) => (state.slackView === "app" && state.appTab === "messages") ? m.dm : !m.dm);
}

function grouped(messages) {
  // Slack folds a run of messages by one author within five minutes under one name and avatar.
  return messages.map((m, i) => {
    const prev = messages[i - 1];
    const same = prev && prev.author.kind === m.author.kind && prev.author.id === m.author.id
      && !m.ephemeral && !prev.ephemeral && m.time - prev.time < 300;
    return { ...m, continued: Boolean(same) };
  });
}

function renderSlack() {
  const ws = state.workspace;
  if (!ws) return;
  $("slack-channel-view").hidden = state.slackView !== "channel";
  $("slack-app-view").hidden = state.slackView !== "app";
  $("nav-channel").classList.toggle("is-active", state.slackView === "channel");
  $("nav-app").classList.toggle("is-active", state.slackView === "app");
  const channel = state.slack.messages.filter((m) => !m.dm);
  const scroller = $("slack-messages");
  stickToBottom(scroller, () => {
    reconcile($("slack-list"), grouped(channel), (m) => m.id,
      (m) => JSON.stringify([m.text, m.blocks, m.continued, state.viewer]), slackMessage);
  });
  for (const node of $("slack-list").children) {
    renders.push({ platform: "slack", id: node.dataset.key, revision: node.dataset.revision, text: node.innerText });
    if (renders.length > 500) renders.shift();
  }
  renderApp();
  renderModal();
}

function slackMessage(m) {
  const node = el("div", `message${m.continued ? " message--continued" : ""}${m.ephemeral ? " message--ephemeral" : ""}`);
  node.dataset.messageId = m.id;
  node.dataset.author = m.author.kind;
  node.dataset.grouped = String(m.continued);
  if (m.ephemeral) {
    node.append(el("div", "message__ephemeral",
      el("span", "eye", "👁"), "Only visible to you"));
  }
  const gutter = el("div", "message__gutter");
  const time = el("time", "message__time", clock(m.time));
  time.title = fullDate(m.time);
  time.dateTime = new Date(m.time * 1000).toISOString();
  if (m.continued) gutter.append(el("time", "message__hover-time", clock(m.time)));
  else gutter.append(avatarFor(m.author));
  const content = el("div", "message__content");
  if (!m.continued) {
    const head = el("div", "message__head", el("span", "message__author", m.author.name));
    if (m.author.kind === "bot") head.append(el("span", "app-badge", "APP"));
    head.append(time);
    content.append(head);
  }
  if (m.blocks?.length) {
    content.append(renderBlocks(m.blocks, {
      ...blockContext(),
      onAction: (what) => slackClick({ message: m.id, ...what }),
    }));
  } else {
    const text = el("div", "message__text");
    if (m.author.kind === "user" && m.text.startsWith("/")) text.classList.add("message__text--command");
    text.append(mrkdwn(m.text, blockContext()));
    content.append(text);
  }
  node.append(el("div", "message__row", gutter, content));
  return node;
}

async function slackClick({ message = "", view = "", blockId, element, option }) {
  try {
    await api.post("/emulator/api/slack/action", {
      user: state.viewer, message, view, block_id: blockId, action_id: element.action_id, option,
    });
  } catch (error) {
    toast(`Slack could not deliver that click: ${error.message}`);
  }
}

async function sendSlack() {
  const input = $("slack-input");
  const text = input.value.trim();
  if (!text) return;
  input.value = "";
  composerChanged();
  try {
    await api.post("/emulator/api/slack/command", { user: state.viewer, text });
  } catch (error) {
    toast(error.message);
  }
  refresh();
}

function composerChanged() {
  const input = $("slack-input");
  const value = input.value;
  const command = state.workspace?.command;
  input.style.height = "auto";
  input.style.height = `${Math.min(input.scrollHeight, 180)}px`;
  $("slack-send").disabled = !value.trim();
  const menu = $("slash-menu");
  const hint = $("usage-hint");
  const word = value.split(/\s/)[0];
  const typingCommand = value.startsWith("/") && !value.includes(" ") && !value.includes("\n");
  const matches = command && command.command.startsWith(word.toLowerCase());
  menu.hidden = !(typingCommand && matches);
  $("slash-query").textContent = word;
  const args = command && value.toLowerCase().startsWith(`${command.command} `) && !value.includes("\n");
  hint.hidden = !args;
  if (args) {
    hint.replaceChildren(el("b", "", command.command), " ", command.usage_hint);
  }
}

function pickCommand() {
  const input = $("slack-input");
  input.value = `${state.workspace.command.command} `;
  input.focus();
  composerChanged();
}

// ---------------------------------------------------------------- App Home, modal

async function openApp(tab = "home") {
  state.slackView = "app";
  state.appTab = tab;
  remember();
  renderSlack();
  if (tab === "home") {
    try {
      await api.post("/emulator/api/slack/home", { user: state.viewer });
    } catch (error) {
      toast(error.message);
    }
  }
}

function renderApp() {
  if (state.slackView !== "app") return;
  for (const tab of document.querySelectorAll(".slack-app__tabs [role=tab]")) {
    tab.setAttribute("aria-selected", String(tab.dataset.tab === state.appTab));
  }
  const body = $("slack-app-body");
  const sig = JSON.stringify([state.appTab, state.viewer, state.slack.home, state.appTab === "messages" ? slackVisible() : null]);
  if (body.dataset.sig === sig) return;
  body.dataset.sig = sig;
  body.replaceChildren();
  if (state.appTab === "home") {
    const view = state.slack.home;
    if (!view) {
      body.append(el("div", "slack-app__empty", "Loading the Home tab…"));
      return;
    }
    body.append(el("div", "home-view", renderBlocks(view.blocks, {
      ...blockContext(), onAction: (what) => slackClick({ view: view.id, ...what }),
    })));
  } else if (state.appTab === "messages") {
    const dms = slackVisible();
    if (!dms.length) {
      body.append(el("div", "slack-app__empty", "No direct messages from chatops yet. It writes here when a channel is out of its reach."));
      return;
    }
    const list = el("div", "message-list");
    for (const m of grouped(dms)) list.append(slackMessage(m));
    body.append(list);
  } else {
    body.append(el("div", "slack-app__about",
      el("h3", "", "chatops"),
      el("p", "", "Finds out why CRM email and calendar sync broke, and offers the fix as a button."),
      el("p", "", "Slash command: ", el("code", "c-mrkdwn__code", `${state.workspace.command.command} ${state.workspace.command.usage_hint}`)),
      el("p", "muted", "In this sandbox the app, Slack, Teams and every provider run on your machine; nothing leaves it.")));
  }
}

function renderModal() {
  const view = state.slack.modal;
  const backdrop = $("modal");
  if (!view || state.platform !== "slack") {
    backdrop.hidden = true;
    backdrop.dataset.viewId = "";
    return;
  }
  const sig = JSON.stringify([view.id, view.hash, view.blocks]);
  if (backdrop.dataset.sig !== sig) {
    backdrop.dataset.sig = sig;
    $("modal-title").textContent = emojify(view.title?.text ?? "");
    $("modal-close").textContent = view.close?.text ?? "Cancel";
    $("modal-submit").hidden = !view.submit;
    if (view.submit) $("modal-submit").textContent = view.submit.text;
    $("modal-body").replaceChildren(renderBlocks(view.blocks, {
      ...blockContext(), onAction: (what) => slackClick({ view: view.id, ...what }),
    }));
    $("modal-body").scrollTop = 0;
  }
  backdrop.dataset.viewId = view.id;
  backdrop.hidden = false;
}

// Submit: Slack sends the inputs' values as view_submission; the bot closes the modal or names bad fields.
async function submitModal() {
  const viewId = $("modal").dataset.viewId;
  if (!viewId) return;
  const button = $("modal-submit");
  button.disabled = true;
  try {
    const answer = await api.post("/emulator/api/slack/modal/submit", {
      user: state.viewer, view: viewId, values: inputValues($("modal-body")),
    });
    showErrors($("modal-body"), answer.errors ?? {});
    if (answer.status !== "ok" && answer.status !== "errors") toast(`The app did not answer (${answer.status}).`);
  } catch (error) {
    toast(error.message);
  } finally {
    button.disabled = false;
  }
}

function showErrors(root, errors) {
  for (const node of root.querySelectorAll(".bk-input-block")) {
    node.querySelector(".bk-input-block__error")?.remove();
    const error = errors[node.dataset.blockId];
    node.classList.toggle("has-error", Boolean(error));
    if (error) node.append(el("div", "bk-input-block__error", error));
  }
}

async function closeModal() {
  $("modal").hidden = true;
  try {
    await api.post("/emulator/api/slack/modal/close", { user: state.viewer });
  } catch (error) {
    toast(error.message);
  }
}

// ---------------------------------------------------------------- Teams

function renderTeams() {
  if (!state.workspace?.teams.enabled) return;
  const scroller = $("teams-messages");
  const messages = state.teams.messages;
  stickToBottom(scroller, () => {
    reconcile($("teams-list"), messages, (m) => m.id,
      (m) => JSON.stringify([m.text, m.summary, m.card, m.notice, state.viewer]), teamsMessage);
  });
  for (const node of $("teams-list").children) {
    renders.push({ platform: "teams", id: node.dataset.key, revision: node.dataset.revision, text: node.innerText });
    if (renders.length > 500) renders.shift();
  }
  const last = messages[messages.length - 1];
  if (last) $("teams-preview").textContent = last.from === "bot" ? (last.summary || last.text || "Sent a card") : `You: ${last.text}`;
}

function teamsMessage(m) {
  const mine = m.from === "user";
  const node = el("div", `tmsg${mine ? " tmsg--mine" : ""}`);
  node.dataset.messageId = m.id;
  const meta = el("div", "tmsg__meta");
  if (!mine) meta.append(el("span", "tmsg__name", m.name));
  const time = el("time", "tmsg__time", clock(m.time));
  time.title = fullDate(m.time);
  meta.append(time);
  const bubble = el("div", "tmsg__bubble");
  if (m.card) {
    bubble.classList.add("tmsg__bubble--card");
    bubble.append(renderCard(m.card, {
      onExecute: ({ action, data, verb }) => teamsExecute(m, action, data, verb),
      onSubmit: ({ data }) => teamsSubmit(m, data),
    }));
  } else {
    bubble.append(document.createTextNode(m.text));
  }
  const column = el("div", "tmsg__column", meta, bubble);
  if (m.notice) column.append(el("div", "tmsg__notice", m.notice));
  if (!mine) {
    const avatar = el("img", "teams-avatar tmsg__avatar");
    avatar.src = state.workspace.bot.avatar;
    avatar.alt = "";
    node.append(avatar);
  }
  node.append(column);
  return node;
}

async function teamsExecute(message, action, data, verb) {
  try {
    await api.post("/emulator/api/teams/invoke", {
      user: state.viewer, message: message.id, verb, data, title: action.title ?? "",
    });
  } catch (error) {
    toast(`Teams could not deliver that action: ${error.message}`);
  }
  refresh();
}

async function teamsSubmit(message, data) {
  try {
    await api.post("/emulator/api/teams/submit", { user: state.viewer, message: message.id, data });
  } catch (error) {
    toast(`Teams could not deliver that action: ${error.message}`);
  }
}

async function openTeams() {
  // Teams adds the bot to a person's chat the first time they open it; the bot answers with its welcome
  if (state.platform !== "teams" || !state.workspace?.teams.enabled) return;
  try {
    await api.post("/emulator/api/teams/open", { user: state.viewer });
  } catch (error) {
    toast(error.message);
  }
}

async function sendTeams(text) {
  const input = $("teams-input");
  const value = (text ?? input.value).trim();
  if (!value) return;
  input.value = "";
  teamsComposerChanged();
  $("teams-commands").hidden = true;
  try {
    await api.post("/emulator/api/teams/message", { user: state.viewer, text: value });
  } catch (error) {
    toast(error.message);
  }
  refresh();
}

function teamsComposerChanged() {
  const input = $("teams-input");
  input.style.height = "auto";
  input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
  $("teams-send").disabled = !input.value.trim();
  const menu = $("teams-commands");
  const typed = input.value.trim().toLowerCase();
  const commands = (state.workspace?.teams.commands ?? []).filter((c) => c.title.startsWith(typed) || !typed);
  menu.hidden = !(document.activeElement === input && commands.length && (typed === "" || "syncstatus".startsWith(typed.split(" ")[0])));
  menu.replaceChildren(el("div", "teams-commands__heading", "Commands from chatops"),
    ...commands.map((c) => {
      const item = el("button", "teams-commands__item", el("b", "", c.title), el("span", "", c.description));
      item.type = "button";
      item.addEventListener("mousedown", (event) => {
        event.preventDefault();
        input.value = c.title.endsWith("logs") ? `${c.title} ` : c.title;
        teamsComposerChanged();
        input.focus();
      });
      return item;
    }));
}

// ---------------------------------------------------------------- start

async function switchViewer(id) {
  if (!$("modal").hidden) await closeModal();
  state.viewer = id;
  $("viewer").value = id;
  remember();
  for (const list of [$("slack-list"), $("teams-list")]) list.replaceChildren();
  $("slack-app-body").dataset.sig = "";
  $("modal").dataset.sig = "";
  await refresh();
  if (state.slackView === "app" && state.appTab === "home") await openApp("home");
  await openTeams();
}

// "Send digest now": the sandbox stands in for a week passing; the digest arrives in the channel like any post.
async function sendDigest() {
  const button = $("send-digest");
  button.disabled = true;
  button.textContent = "Sending…";
  try {
    const { outcomes } = await api.post("/emulator/api/digest", {});
    const said = Object.values(outcomes);
    if (said.length === 0) toast("No channel is subscribed to the digest.");
    else if (said.every((o) => o === "sent")) toast(`The digest was posted in #${state.workspace.channel.name}.`);
    else toast(`The digest was not posted now (${said.join(", ")}).`);
    if (said.includes("sent") && state.platform === "slack" && state.slackView !== "channel") {
      state.slackView = "channel";
      remember();
      renderSlack();
    }
  } catch (error) {
    toast(error.message);
  } finally {
    button.disabled = false;
    button.textContent = "Send digest now";
  }
}

function wire() {
  $("send-digest").addEventListener("click", sendDigest);
  for (const tab of document.querySelectorAll(".sandbox-bar__tabs [role=tab]")) {
    tab.addEventListener("click", () => {
      state.platform = tab.dataset.platform;
      remember();
      render();
      openTeams();
      (state.platform === "teams" ? $("teams-input") : $("slack-input")).focus();
    });
  }
  $("viewer").addEventListener("change", (event) => switchViewer(event.target.value));
  $("nav-channel").addEventListener("click", () => {
    state.slackView = "channel";
    remember();
    renderSlack();
    $("slack-input").focus();
  });
  $("nav-app").addEventListener("click", () => openApp("home"));
  for (const tab of document.querySelectorAll(".slack-app__tabs [role=tab]")) {
    tab.addEventListener("click", () => openApp(tab.dataset.tab));
  }
  for (const chip of document.querySelectorAll("[data-fill]")) {
    chip.addEventListener("click", () => {
      $("slack-input").value = chip.dataset.fill;
      composerChanged();
      $("slack-input").focus();
    });
  }
  const input = $("slack-input");
  input.addEventListener("input", composerChanged);
  input.addEventListener("keydown", (event) => {
    // Enter picks the highlighted command, unless it is typed out in full already (then it runs)
    const complete = input.value.trim().toLowerCase() === state.workspace.command.command;
    const menuOpen = !$("slash-menu").hidden;
    if (menuOpen && (event.key === "Tab" || (event.key === "Enter" && !event.shiftKey && !complete))) {
      event.preventDefault();
      pickCommand();
      return;
    }
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      sendSlack();
    }
    if (event.key === "Escape") $("slash-menu").hidden = true;
  });
  $("slash-option").addEventListener("mousedown", (event) => {
    event.preventDefault();
    pickCommand();
  });
  $("slack-send").addEventListener("click", sendSlack);
  const teams = $("teams-input");
  teams.addEventListener("input", teamsComposerChanged);
  teams.addEventListener("focus", teamsComposerChanged);
  teams.addEventListener("blur", () => { $("teams-commands").hidden = true; });
  teams.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      sendTeams();
    }
    if (event.key === "Escape") $("teams-commands").hidden = true;
  });
  $("teams-send").addEventListener("click", () => sendTeams());
  $("modal-close").addEventListener("click", closeModal);
  $("modal-submit").addEventListener("click", submitModal);
  $("modal-x").addEventListener("click", closeModal);
  $("modal").addEventListener("click", (event) => { if (event.target === $("modal")) closeModal(); });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !$("modal").hidden) closeModal();
  });
}

async function start() {
  state.workspace = await api.get("/emulator/api/workspace");
  const ws = state.workspace;
  if (!member(state.viewer)) state.viewer = ws.members.find((m) => m.admin)?.id ?? ws.members[0].id;
  document.title = `#${ws.channel.name} · ${ws.team.name} · chatops sandbox`;
  $("team-name").textContent = ws.team.name;
  $("team-tile").textContent = initials(ws.team.name);
  $("teams-org").textContent = ws.team.name;
  $("channel-name").textContent = ws.channel.name;
  $("nav-channel-name").textContent = ws.channel.name;
  for (const node of document.querySelectorAll(".js-channel-name")) node.textContent = ws.channel.name;
  $("channel-topic").textContent = ws.channel.topic;
  $("slack-input").placeholder = `Message #${ws.channel.name}`;
  $("slack-input").setAttribute("aria-label", `Message #${ws.channel.name}`);
  $("slash-name").textContent = ws.command.command;
  $("slash-hint").textContent = ws.command.usage_hint;
  $("slash-desc").textContent = ws.command.description;
  $("teams-description").textContent = ws.teams.description ?? "";
  const stack = $("channel-members");
  for (const m of ws.members.slice(0, 3)) stack.append(avatarFor({ kind: "user", id: m.id, name: m.name }, "avatar avatar--stack"));
  stack.append(el("span", "slack-header__count", String(ws.members.length + 1)));
  const select = $("viewer");
  for (const m of ws.members) {
    const option = el("option", "", `${m.name}${m.admin ? " (admin)" : ""}`);
    option.value = m.id;
    select.append(option);
  }
  select.value = state.viewer;
  $("tab-teams").disabled = !ws.teams.enabled;
  $("send-digest").hidden = !ws.digest?.enabled;
  wire();
  remember();
  render();
  listen();
  await api.post("/emulator/api/slack/modal/close", { user: state.viewer, all: true }).catch(() => null);
  await refresh();
  if (state.slackView === "app") openApp("home");
  await openTeams();
  document.body.dataset.ready = "true";
}

start().catch((error) => {
  document.body.dataset.ready = "error";
  toast(`The sandbox did not start: ${error.message}`);
});
