// Block Kit and mrkdwn rendered as Slack shows them: header, section (text, fields, accessory), context,
// divider, actions (buttons, selects, overflow), image, input and rich_text. DOM nodes only, never innerHTML,
// so nothing the bot sends can inject markup.

export const EMOJI = {
  white_check_mark: "✅", heavy_check_mark: "✔️", x: "❌", warning: "⚠️", grey_question: "❔",
  question: "❓", grey_exclamation: "❕", exclamation: "❗", white_circle: "⚪", red_circle: "🔴",
  large_green_circle: "🟢", large_yellow_circle: "🟡", large_blue_circle: "🔵", black_circle: "⚫",
  hourglass: "⌛", hourglass_flowing_sand: "⏳", arrows_counterclockwise: "🔄", repeat: "🔁",
  rotating_light: "🚨", bell: "🔔", no_bell: "🔕", lock: "🔒", unlock: "🔓", key: "🔑", link: "🔗",
  email: "📧", envelope: "✉️", calendar: "📅", date: "📅", spiral_calendar_pad: "🗓️", clock3: "🕒",
  mag: "🔍", wrench: "🔧", hammer_and_wrench: "🛠️", gear: "⚙️", zap: "⚡", fire: "🔥",
  chart_with_upwards_trend: "📈", bar_chart: "📊", globe_with_meridians: "🌐", satellite: "📡",
  information_source: "ℹ️", bulb: "💡", memo: "📝", clipboard: "📋", pushpin: "📌", tada: "🎉",
  wave: "👋", eyes: "👀", thumbsup: "👍", "+1": "👍", thumbsdown: "👎", raised_hands: "🙌", pray: "🙏",
  robot_face: "🤖", sparkles: "✨", rocket: "🚀", stopwatch: "⏱️", hourglass_done: "⌛", sos: "🆘",
  no_entry: "⛔", no_entry_sign: "🚫", construction: "🚧", heavy_plus_sign: "➕", heavy_minus_sign: "➖",
  arrow_right: "➡️", arrow_forward: "▶️", arrow_backward: "◀️", small_red_triangle_down: "🔻",
  small_blue_diamond: "🔹", small_orange_diamond: "🔸", large_orange_diamond: "🔶", white_small_square: "▫️",
};

const ENTITIES = { "&amp;": "&", "&lt;": "<", "&gt;": ">" };

export function decode(text) {
  return String(text).replace(/&(amp|lt|gt);/g, (m) => ENTITIES[m]);
}

export function el(tag, className, ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function emojify(text) {
  return text.replace(/:([a-z0-9_+\-]+):/g, (m, name) => EMOJI[name] ?? m);
}

// ---------------------------------------------------------------- mrkdwn

const STYLES = [
  { mark: "*", tag: "b" },
  { mark: "_", tag: "i" },
  { mark: "~", tag: "s" },
];

function styleRegex(mark) {
  const m = mark.replace(/[*~]/g, "\\$&");
  // Slack's rule: the mark opens after a boundary and closes before one, with no space just inside.
  return new RegExp(`(^|[\\s(\\[{'"“‘>-])${m}(?=\\S)([^\\n]*?\\S)${m}(?=$|[\\s)\\]}.,;:!?'"”’<-])`);
}

const STYLE_RES = STYLES.map((s) => ({ ...s, re: styleRegex(s.mark) }));

function styled(text, ctx) {
  // the earliest style match wins; its inside is styled again (bold inside italic and so on)
  const out = [];
  let rest = text;
  while (rest) {
    let best = null;
    for (const style of STYLE_RES) {
      const m = style.re.exec(rest);
      if (m && (best === null || m.index < best.m.index)) best = { style, m };
    }
    if (best === null) {
      out.push(textNode(rest));
      break;
    }
    const { style, m } = best;
    const start = m.index + m[1].length;
    if (start > 0) out.push(textNode(rest.slice(0, start)));
    const node = el(style.tag, "");
    node.append(...styled(m[2], ctx));
    out.push(node);
    rest = rest.slice(m.index + m[0].length);
  }
  return out;
}

function textNode(text) {
  return document.createTextNode(emojify(decode(text)));
}

function linkOrMention(inner, ctx) {
  const [target, label] = splitOnce(inner, "|");
  if (target.startsWith("@")) {
    const name = ctx.userName?.(target.slice(1)) || label || target.slice(1);
    return el("span", "c-mention", `@${decode(name)}`);
  }
  if (target.startsWith("#")) return el("span", "c-mention", `#${decode(label || target.slice(1))}`);
  if (target.startsWith("!subteam^")) return el("span", "c-mention", `@${decode(label || "group")}`);
  if (target.startsWith("!date^")) return textNode(label || target);
  if (target.startsWith("!")) return el("span", "c-mention c-mention--broadcast", `@${target.slice(1).split("^")[0]}`);
  const url = decode(target);
  const a = el("a", "c-link", decode(label || target));
  if (/^(https?:|mailto:)/i.test(url)) {
    a.href = url;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
  }
  return a;
}

function splitOnce(text, sep) {
  const i = text.indexOf(sep);
  return i < 0 ? [text, ""] : [text.slice(0, i), text.slice(i + 1)];
}

function inline(text, ctx) {
  // `code` first, then <links|and mentions>, then *bold* _italic_ ~strike~ and :emoji:
  const out = [];
  const parts = text.split(/(`[^`\n]+`)/g);
  for (const part of parts) {
    if (!part) continue;
    if (part.length > 2 && part.startsWith("`") && part.endsWith("`")) {
      out.push(el("code", "c-mrkdwn__code", decode(part.slice(1, -1))));
      continue;
    }
    const pieces = part.split(/(<[^<>\n]+>)/g);
    for (const piece of pieces) {
      if (!piece) continue;
      if (piece.startsWith("<") && piece.endsWith(">")) out.push(linkOrMention(piece.slice(1, -1), ctx));
      else out.push(...styled(piece, ctx));
    }
  }
  return out;
}

export function mrkdwn(text, ctx = {}) {
  const root = document.createDocumentFragment();
  const segments = String(text ?? "").split(/```/);
  segments.forEach((segment, i) => {
    if (i % 2 === 1) {
      root.append(el("pre", "c-mrkdwn__pre", decode(segment.replace(/^\n/, ""))));
      return;
    }
    const lines = segment.split("\n");
    let quote = null;
    lines.forEach((line, n) => {
      const quoted = /^(&gt;|>)\s?/.exec(line);
      if (quoted) {
        if (!quote) {
          quote = el("blockquote", "c-mrkdwn__quote");
          root.append(quote);
        } else {
          quote.append(el("br"));
        }
        quote.append(...inline(line.slice(quoted[0].length), ctx));
        return;
      }
      quote = null;
      root.append(...inline(line, ctx));
      if (n < lines.length - 1) root.append(el("br"));
    });
  });
  return root;
}

export function textObject(obj, ctx = {}) {
  if (!obj) return document.createDocumentFragment();
  if (obj.type === "mrkdwn") return mrkdwn(obj.text, ctx);
  const text = decode(obj.text ?? "");
  return document.createTextNode(obj.emoji === false ? text : emojify(text));
}

// ---------------------------------------------------------------- elements

function button(element, ctx, where) {
  const node = el("button", `bk-button${element.style ? ` bk-button--${element.style}` : ""}`);
  node.type = "button";
  node.append(textObject(element.text, ctx));
  if (element.url) node.title = element.url;  // Slack opens it in the browser
  node.dataset.actionId = element.action_id ?? "";
  node.addEventListener("click", async () => {
    if (element.url) window.open(element.url, "_blank", "noopener");
    node.classList.add("is-busy");
    node.disabled = true;
    try {
      await ctx.onAction?.({ ...where, element });
    } finally {
      node.classList.remove("is-busy");
      node.disabled = false;
    }
  });
  return node;
}

function options(element) {
  if (element.option_groups) return element.option_groups.flatMap((g) => g.options ?? []);
  return element.options ?? [];
}

function select(element, ctx, where) {
  const node = el("select", "bk-select");
  node.dataset.actionId = element.action_id ?? "";
  const placeholder = el("option", "", decode(element.placeholder?.text ?? "Select an item"));
  placeholder.value = "";
  placeholder.disabled = true;
  node.append(placeholder);
  let list = options(element);
  if (element.type === "users_select") {
    list = (ctx.members ?? []).map((m) => ({ text: { type: "plain_text", text: m.name }, value: m.id }));
  }
  list.forEach((option, i) => {
    const o = el("option", "", emojify(decode(option.text?.text ?? option.value)));
    o.value = String(i);
    node.append(o);
  });
  const initial = element.initial_option ? list.findIndex((o) => o.value === element.initial_option.value) : -1;
  node.value = initial >= 0 ? String(initial) : "";
  node.addEventListener("change", () => {
    const option = list[Number(node.value)];
    if (option) ctx.onAction?.({ ...where, element, option });
  });
  return node;
}

function overflow(element, ctx, where) {
  const wrap = el("div", "bk-overflow");
  const toggle = el("button", "bk-button bk-button--icon", "⋮");
  toggle.type = "button";
  toggle.setAttribute("aria-label", "More actions");
  const menu = el("div", "bk-menu");
  menu.hidden = true;
  for (const option of element.options ?? []) {
    const item = el("button", "bk-menu__item", emojify(decode(option.text?.text ?? option.value)));
    item.type = "button";
    item.addEventListener("click", () => {
      menu.hidden = true;
      if (option.url) window.open(option.url, "_blank", "noopener");
      ctx.onAction?.({ ...where, element, option });
    });
    menu.append(item);
  }
  toggle.addEventListener("click", () => { menu.hidden = !menu.hidden; });
  wrap.append(toggle, menu);
  return wrap;
}

function image(element, className) {
  const img = el("img", className);
  img.src = element.image_url ?? element.slack_file?.url ?? "";
  img.alt = element.alt_text ?? "";
  img.loading = "lazy";
  return img;
}

function interactive(element, ctx, where) {
  switch (element.type) {
    case "button": return button(element, ctx, where);
    case "static_select": case "external_select": case "users_select":
    case "conversations_select": case "channels_select": return select(element, ctx, where);
    case "overflow": return overflow(element, ctx, where);
    case "image": return image(element, "bk-accessory-image");
    case "datepicker": {
      const input = el("input", "bk-input bk-input--date");
      input.type = "date";
      input.value = element.initial_date ?? "";
      return input;
    }
    default: return el("span", "bk-unsupported", `[${element.type}]`);
  }
}

// ---------------------------------------------------------------- blocks

function section(block, ctx) {
  const node = el("div", "bk-section");
  const body = el("div", "bk-section__body");
  if (block.text) body.append(el("div", "bk-text", textObject(block.text, ctx)));
  if (block.fields?.length) {
    const grid = el("div", "bk-fields");
    for (const field of block.fields) grid.append(el("div", "bk-field", textObject(field, ctx)));
    body.append(grid);
  }
  node.append(body);
  if (block.accessory) {
    const where = { blockId: block.block_id ?? "" };
    node.append(el("div", "bk-section__accessory", interactive(block.accessory, ctx, where)));
  }
  return node;
}

function context(block, ctx) {
  const node = el("div", "bk-context");
  for (const element of block.elements ?? []) {
    if (element.type === "image") node.append(image(element, "bk-context__image"));
    else node.append(el("span", "bk-context__text", textObject(element, ctx)));
  }
  return node;
}

function actions(block, ctx) {
  const node = el("div", "bk-actions");
  node.dataset.blockId = block.block_id ?? "";
  const where = { blockId: block.block_id ?? "" };
  for (const element of block.elements ?? []) node.append(interactive(element, ctx, where));
  return node;
}

function richText(block, ctx) {
  const node = el("div", "bk-rich-text");
  const runs = (elements) => (elements ?? []).map((e) => {
    if (e.type === "text") {
      const s = e.style ?? {};
      let n = document.createTextNode(e.text ?? "");
      for (const [flag, tag] of [["code", "code"], ["strike", "s"], ["italic", "i"], ["bold", "b"]]) {
        if (s[flag]) n = el(tag, flag === "code" ? "c-mrkdwn__code" : "", n);
      }
      return n;
    }
    if (e.type === "link") return linkOrMention(`${e.url}|${e.text ?? e.url}`, ctx);
    if (e.type === "emoji") return document.createTextNode(EMOJI[e.name] ?? `:${e.name}:`);
    if (e.type === "user") return linkOrMention(`@${e.user_id}`, ctx);
    return document.createTextNode("");
  });
  for (const part of block.elements ?? []) {
    if (part.type === "rich_text_section") node.append(el("div", "", ...runs(part.elements)));
    else if (part.type === "rich_text_preformatted") node.append(el("pre", "c-mrkdwn__pre", ...runs(part.elements)));
    else if (part.type === "rich_text_quote") node.append(el("blockquote", "c-mrkdwn__quote", ...runs(part.elements)));
    else if (part.type === "rich_text_list") {
      const list = el(part.style === "ordered" ? "ol" : "ul", "bk-list");
      for (const item of part.elements ?? []) list.append(el("li", "", ...runs(item.elements)));
      node.append(list);
    }
  }
  return node;
}

// An input's element as a form field: no block_actions on change (Slack sends its value with view_submission);
// inputValue() reads it back in the shape Slack reports.
function inputField(element, ctx) {
  const kind = element.type;
  if (kind === "plain_text_input") {
    const field = el(element.multiline ? "textarea" : "input", "bk-input");
    field.placeholder = decode(element.placeholder?.text ?? "");
    field.value = element.initial_value ?? "";
    return field;
  }
  if (kind === "timepicker") {
    const field = el("input", "bk-input bk-input--time");
    field.type = "time";
    field.value = element.initial_time ?? "";
    return field;
  }
  if (kind === "datepicker") {
    const field = el("input", "bk-input bk-input--date");
    field.type = "date";
    field.value = element.initial_date ?? "";
    return field;
  }
  if (kind === "radio_buttons") {
    const group = el("div", "bk-radios");
    const name = `radio-${Math.random().toString(36).slice(2)}`;
    for (const option of element.options ?? []) {
      const radio = el("input", "bk-radio");
      radio.type = "radio";
      radio.name = name;
      radio.value = option.value;
      radio.checked = element.initial_option?.value === option.value;
      group.append(el("label", "bk-radios__option", radio, " ", textObject(option.text, ctx)));
    }
    return group;
  }
  if (["static_select", "conversations_select", "channels_select", "users_select"].includes(kind)) {
    let list = options(element);
    if (kind === "users_select") {
      list = (ctx.members ?? []).map((m) => ({ text: { type: "plain_text", text: m.name }, value: m.id }));
    } else if (kind !== "static_select") {
      list = (ctx.channels ?? []).map((c) => ({ text: { type: "plain_text", text: `# ${c.name}` }, value: c.id }));
    }
    const field = el("select", "bk-select");
    const placeholder = el("option", "", decode(element.placeholder?.text ?? "Select an item"));
    placeholder.value = "";
    field.append(placeholder);
    for (const option of list) {
      const o = el("option", "", emojify(decode(option.text?.text ?? option.value)));
      o.value = option.value;
      field.append(o);
    }
    field.value = element.initial_option?.value ?? element.initial_conversation ?? element.initial_channel
      ?? element.initial_user ?? "";
    return field;
  }
  return el("span", "bk-unsupported", `[${kind}]`);
}

function input(block, ctx) {
  const node = el("div", "bk-input-block");
  const element = block.element ?? {};
  node.dataset.blockId = block.block_id ?? "";
  node.dataset.elementType = element.type ?? "";
  const field = inputField(element, ctx);
  const label = el("label", "bk-input-block__label", textObject(block.label, ctx));
  if (block.optional) label.append(el("span", "bk-input-block__optional", " (optional)"));
  node.append(label, field);
  if (block.hint) node.append(el("div", "bk-input-block__hint", textObject(block.hint, ctx)));
  const error = ctx.errors?.[block.block_id ?? ""];
  if (error) {
    node.classList.add("has-error");
    node.append(el("div", "bk-input-block__error", error));
  }
  return node;
}

// The values of every input block under `root`, by block_id: a text, time, picked option or conversation.
export function inputValues(root) {
  const values = {};
  for (const node of root.querySelectorAll(".bk-input-block")) {
    const checked = node.querySelector("input[type=radio]:checked");
    const field = node.querySelector("input, textarea, select");
    if (node.dataset.elementType === "radio_buttons") values[node.dataset.blockId] = checked?.value ?? "";
    else if (field) values[node.dataset.blockId] = field.value;
  }
  return values;
}

export function renderBlock(block, ctx = {}) {
  switch (block.type) {
    case "header": return el("div", "bk-header", textObject(block.text, ctx));
    case "section": return section(block, ctx);
    case "context": return context(block, ctx);
    case "divider": return el("hr", "bk-divider");
    case "actions": return actions(block, ctx);
    case "image": {
      const figure = el("figure", "bk-image");
      if (block.title) figure.append(el("figcaption", "", textObject(block.title, ctx)));
      figure.append(image(block, "bk-image__img"));
      return figure;
    }
    case "rich_text": return richText(block, ctx);
    case "input": return input(block, ctx);
    default: return el("div", "bk-unsupported", `This block (${block.type}) is not shown in the sandbox.`);
  }
}

export function renderBlocks(blocks, ctx = {}) {
  const root = el("div", "bk-blocks");
  for (const block of blocks ?? []) root.append(renderBlock(block, ctx));
  return root;
}
