// Adaptive Cards as Teams (light theme) shows them: a practical subset of 1.5. TextBlock with Teams' markdown,
// RichTextBlock, FactSet, Container, ColumnSet/Column, Image, ActionSet and card actions (Action.Execute,
// Action.Submit, Action.OpenUrl, Action.ShowCard, Action.ToggleVisibility), a few inputs. Sizes, spacing and
// colours follow shared/conformance/teams/adaptive-card.hostconfig.microsoft-teams-light.json.

import { el } from "./blockkit.js";

const SPACING = { none: 0, small: 8, default: 12, medium: 16, large: 20, extralarge: 24, padding: 16 };
const SIZES = { small: 12, default: 14, medium: 14, large: 18, extralarge: 24 };
const WEIGHTS = { lighter: 200, default: 400, bolder: 600 };

function lower(value, fallback) {
  return String(value ?? fallback).toLowerCase();
}

// ---------------------------------------------------------------- Teams' card markdown

const PLACEHOLDER = 0xe000; // private-use characters stand for backslash-escaped ones while parsing

function protect(text) {
  const escaped = [];
  const out = String(text ?? "").replace(/\\([\\`*_\[\]~().!#+\-{}>|])/g, (m, c) => {
    escaped.push(c);
    return String.fromCharCode(PLACEHOLDER + escaped.length - 1);
  });
  return [out, escaped];
}

function restore(text, escaped) {
  return text.replace(/[\ue000-\uf8ff]/g, (c) => escaped[c.charCodeAt(0) - PLACEHOLDER] ?? c);
}

function markdownInline(text, escaped) {
  const nodes = [];
  const re = /\*\*([^*]+?)\*\*|(?<![\w])_([^_]+?)_(?![\w])|\[([^\]]+)\]\(([^)\s]+)\)/;
  let rest = text;
  while (rest) {
    const m = re.exec(rest);
    if (!m) {
      nodes.push(document.createTextNode(restore(rest, escaped)));
      break;
    }
    if (m.index) nodes.push(document.createTextNode(restore(rest.slice(0, m.index), escaped)));
    if (m[1] !== undefined) nodes.push(el("strong", "", ...markdownInline(m[1], escaped)));
    else if (m[2] !== undefined) nodes.push(el("em", "", ...markdownInline(m[2], escaped)));
    else {
      const url = restore(m[4], escaped);
      const a = el("a", "ac-link", ...markdownInline(m[3], escaped));
      if (/^https?:/i.test(url)) {
        a.href = url;
        a.target = "_blank";
        a.rel = "noopener noreferrer";
      }
      nodes.push(a);
    }
    rest = rest.slice(m.index + m[0].length);
  }
  return nodes;
}

export function markdown(text) {
  const [safe, escaped] = protect(text);
  const root = document.createDocumentFragment();
  let list = null;
  let paragraph = null;
  for (const line of safe.split("\n")) {
    const numbered = /^\s*(\d+)\.\s+(.*)$/.exec(line);
    const bullet = /^\s*[-*+]\s+(.*)$/.exec(line);
    if (numbered || bullet) {
      const tag = numbered ? "ol" : "ul";
      if (!list || list.tagName.toLowerCase() !== tag) {
        list = el(tag, "ac-list");
        if (numbered) list.start = Number(numbered[1]);
        root.append(list);
      }
      list.append(el("li", "", ...markdownInline(numbered ? numbered[2] : bullet[1], escaped)));
      paragraph = null;
      continue;
    }
    list = null;
    if (!line.trim()) {
      paragraph = null;
      continue;
    }
    if (paragraph) paragraph.append(el("br"));
    else {
      paragraph = el("p", "ac-p");
      root.append(paragraph);
    }
    paragraph.append(...markdownInline(line, escaped));
  }
  return root;
}

// ---------------------------------------------------------------- elements

function spaced(node, element, first) {
  if (!first) {
    const gap = SPACING[lower(element.spacing, "default")] ?? 12;
    node.style.marginTop = `${gap}px`;
    if (element.separator) {
      node.classList.add("ac-separated");
      node.style.paddingTop = `${gap}px`;
      node.style.marginTop = "0";
    }
  }
  if (element.isVisible === false) node.hidden = true;
  if (element.id) node.dataset.acId = element.id;
  return node;
}

function textBlock(element) {
  const node = el("div", "ac-textblock");
  const style = lower(element.style, "default");
  const size = lower(element.size, style === "heading" ? "large" : "default");
  const weight = lower(element.weight, style === "heading" ? "bolder" : "default");
  node.style.fontSize = `${SIZES[size] ?? 14}px`;
  node.style.fontWeight = String(WEIGHTS[weight] ?? 400);
  node.classList.add(`ac-color-${lower(element.color, "default")}`);
  if (element.isSubtle) node.classList.add("ac-subtle");
  if (element.fontType && lower(element.fontType) === "monospace") node.classList.add("ac-mono");
  if (element.wrap === false) node.classList.add("ac-nowrap");
  if (element.horizontalAlignment) node.style.textAlign = lower(element.horizontalAlignment);
  if (style === "heading") node.setAttribute("role", "heading");
  node.append(markdown(element.text));
  return node;
}

function richTextBlock(element) {
  const node = el("p", "ac-textblock ac-p");
  for (const inline of element.inlines ?? []) {
    const run = el("span", "", typeof inline === "string" ? inline : inline.text ?? "");
    if (inline.weight && lower(inline.weight) === "bolder") run.style.fontWeight = "600";
    if (inline.italic) run.style.fontStyle = "italic";
    if (inline.strikethrough) run.style.textDecoration = "line-through";
    if (inline.isSubtle) run.classList.add("ac-subtle");
    if (inline.color) run.classList.add(`ac-color-${lower(inline.color)}`);
    if (inline.size) run.style.fontSize = `${SIZES[lower(inline.size)] ?? 14}px`;
    node.append(run);
  }
  return node;
}

function factSet(element) {
  const node = el("div", "ac-factset");
  for (const fact of element.facts ?? []) {
    node.append(el("div", "ac-fact__title", ...markdown(fact.title).childNodes));
    node.append(el("div", "ac-fact__value", ...markdown(fact.value).childNodes));
  }
  return node;
}

function container(element, ctx) {
  const node = el("div", "ac-container");
  const style = lower(element.style, "");
  if (style && style !== "default") node.classList.add("ac-styled", `ac-style-${style}`);
  node.append(...body(element.items ?? [], ctx));
  if (element.selectAction) clickable(node, element.selectAction, ctx);
  return node;
}

function columnSet(element, ctx) {
  const node = el("div", "ac-columnset");
  for (const column of element.columns ?? []) {
    const col = el("div", "ac-column");
    const width = column.width ?? "stretch";
    if (width === "auto") col.style.flex = "0 0 auto";
    else if (width === "stretch") col.style.flex = "1 1 0";
    else if (/^\d+px$/.test(String(width))) col.style.flex = `0 0 ${width}`;
    else if (!Number.isNaN(Number(width))) col.style.flex = `${Number(width)} 1 0`;
    const style = lower(column.style, "");
    if (style && style !== "default") col.classList.add("ac-styled", `ac-style-${style}`);
    if (column.verticalContentAlignment) col.classList.add(`ac-valign-${lower(column.verticalContentAlignment)}`);
    col.append(...body(column.items ?? [], ctx));
    if (column.selectAction) clickable(col, column.selectAction, ctx);
    node.append(spaced(col, { ...column, spacing: column.spacing ?? "default" }, node.childElementCount === 0));
    col.style.marginTop = "0";
    if (node.childElementCount > 1 && !column.separator) col.style.paddingTop = "0";
  }
  return node;
}

function image(element) {
  const img = el("img", "ac-image");
  img.src = element.url ?? "";
  img.alt = element.altText ?? "";
  const size = lower(element.size, "auto");
  const px = { small: 32, medium: 52, large: 100 }[size];
  if (px) img.style.width = `${px}px`;
  if (lower(element.style, "") === "person") img.classList.add("ac-image--person");
  return img;
}

function inputElement(element) {
  const wrap = el("label", "ac-input");
  if (element.label) wrap.append(el("span", "ac-input__label", element.label));
  let field;
  if (element.type === "Input.ChoiceSet") {
    field = el("select", "ac-input__field");
    for (const choice of element.choices ?? []) {
      const o = el("option", "", choice.title ?? choice.value);
      o.value = choice.value;
      field.append(o);
    }
  } else if (element.type === "Input.Toggle") {
    field = el("input", "");
    field.type = "checkbox";
  } else {
    field = el(element.isMultiline ? "textarea" : "input", "ac-input__field");
    field.placeholder = element.placeholder ?? "";
  }
  field.value = element.value ?? field.value;
  field.dataset.inputId = element.id ?? "";
  wrap.append(field);
  return wrap;
}

function element(item, ctx) {
  switch (item.type) {
    case "TextBlock": return textBlock(item);
    case "RichTextBlock": return richTextBlock(item);
    case "FactSet": return factSet(item);
    case "Container": return container(item, ctx);
    case "ColumnSet": return columnSet(item, ctx);
    case "Image": return image(item);
    case "ImageSet": return el("div", "ac-imageset", ...(item.images ?? []).map(image));
    case "ActionSet": return actionSet(item.actions ?? [], ctx);
    case "Input.Text": case "Input.ChoiceSet": case "Input.Number": case "Input.Date": case "Input.Toggle":
      return inputElement(item);
    default:
      return el("div", "ac-unsupported", `This element (${item.type}) is not shown in the sandbox.`);
  }
}

function body(items, ctx) {
  const out = [];
  for (const item of items) {
    const node = element(item, ctx);
    out.push(spaced(node, item, out.length === 0));
  }
  return out;
}

// ---------------------------------------------------------------- actions

function inputs(root) {
  const values = {};
  for (const field of root.querySelectorAll("[data-input-id]")) {
    if (field.dataset.inputId) values[field.dataset.inputId] = field.type === "checkbox" ? String(field.checked) : field.value;
  }
  return values;
}

async function run(action, ctx, source) {
  switch (action.type) {
    case "Action.OpenUrl":
      window.open(action.url, "_blank", "noopener");
      return;
    case "Action.ToggleVisibility": {
      const card = source.closest(".ac-card");
      for (const target of action.targetElements ?? []) {
        const id = typeof target === "string" ? target : target.elementId;
        const node = card?.querySelector(`[data-ac-id="${CSS.escape(id)}"]`);
        if (node) node.hidden = typeof target === "object" && "isVisible" in target ? !target.isVisible : !node.hidden;
      }
      return;
    }
    case "Action.Execute": case "Action.Submit": {
      const card = source.closest(".ac-card");
      const data = { ...(typeof action.data === "object" && action.data ? action.data : {}), ...inputs(card ?? source) };
      if (action.type === "Action.Submit") await ctx.onSubmit?.({ action, data });
      else await ctx.onExecute?.({ action, data, verb: action.verb ?? data.verb ?? "" });
      return;
    }
    default:
  }
}

function clickable(node, action, ctx) {
  node.classList.add("ac-selectable");
  node.addEventListener("click", () => run(action, ctx, node));
}

function actionSet(actions, ctx) {
  const wrap = el("div", "ac-actionset");
  const row = el("div", "ac-actions");
  const shown = el("div", "ac-showcard");
  shown.hidden = true;
  let open = null;
  const secondary = actions.filter((a) => lower(a.mode, "primary") === "secondary");
  for (const action of actions.filter((a) => !secondary.includes(a))) {
    const style = lower(action.style, "default");
    const node = el("button", `ac-button ac-button--${style}`, action.title ?? "");
    node.type = "button";
    node.dataset.verb = action.verb ?? "";
    if (action.type === "Action.OpenUrl") node.title = action.url;
    node.addEventListener("click", async () => {
      if (action.type === "Action.ShowCard") {
        shown.replaceChildren();
        if (open === node) {
          open = null;
          node.classList.remove("is-expanded");
          shown.hidden = true;
          return;
        }
        row.querySelectorAll(".is-expanded").forEach((b) => b.classList.remove("is-expanded"));
        open = node;
        node.classList.add("is-expanded");
        shown.append(renderCard(action.card ?? {}, ctx, { nested: true }));
        shown.hidden = false;
        return;
      }
      node.classList.add("is-busy");
      node.disabled = true;
      try {
        await run(action, ctx, node);
      } finally {
        node.classList.remove("is-busy");
        node.disabled = false;
      }
    });
    row.append(node);
  }
  if (secondary.length) row.append(moreMenu(secondary, ctx));
  wrap.append(row, shown);
  return wrap;
}

function moreMenu(actions, ctx) {
  const wrap = el("div", "ac-more");
  const toggle = el("button", "ac-button ac-button--more", "…");
  toggle.type = "button";
  toggle.setAttribute("aria-label", "More options");
  const menu = el("div", "ac-menu");
  menu.hidden = true;
  for (const action of actions) {
    const item = el("button", "ac-menu__item", action.title ?? "");
    item.type = "button";
    item.addEventListener("click", async () => {
      menu.hidden = true;
      await run(action, ctx, wrap);
    });
    menu.append(item);
  }
  toggle.addEventListener("click", () => { menu.hidden = !menu.hidden; });
  wrap.append(toggle, menu);
  return wrap;
}

export function renderCard(card, ctx = {}, { nested = false } = {}) {
  const node = el("div", nested ? "ac-card ac-card--nested" : "ac-card");
  node.append(...body(card.body ?? [], ctx));
  if (card.actions?.length) {
    const set = actionSet(card.actions, ctx);
    node.append(spaced(set, { spacing: "default" }, node.childElementCount === 0));
  }
  if (card.selectAction) clickable(node, card.selectAction, ctx);
  return node;
}
