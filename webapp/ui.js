// Small DOM helpers and the designed states every screen shares: loading, empty, error.

import { _ } from "./i18n.js";

// h("div.card", {onclick}, child, "text", ...): an element with classes, attributes and children.
export function h(tag, attrs, ...children) {
  const [name, ...classes] = tag.split(".");
  const el = document.createElement(name || "div");
  if (classes.length) {
    el.className = classes.join(" ");
  }
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) {
      continue;
    }
    if (key.startsWith("on")) {
      el.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (value === true) {
      el.setAttribute(key, "");
    } else {
      el.setAttribute(key, value);
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

// Replace what `view` shows; empty children (null, false) are left out.
export function fill(view, ...children) {
  view.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

export function skeleton(rows) {
  const lines = [];
  for (let i = 0; i < (rows || 4); i += 1) {
    lines.push(h("div.skeleton-line"));
  }
  return h("div.card.skeleton", { role: "status", "aria-label": _("Loading…") }, lines);
}

export function empty(icon, title, hint) {
  return h("div.empty", {}, h("div.empty-icon", {}, icon), h("p.empty-title", {}, title), hint ? h("p.hint", {}, hint) : null);
}

export function failure(error, retry) {
  return h(
    "div.empty.error",
    { role: "alert" },
    h("div.empty-icon", {}, "⚠️"),
    h("p.empty-title", {}, error.message || _("Something went wrong. Please try again.")),
    retry ? h("button.button.secondary", { onclick: retry }, _("Try again")) : null,
  );
}

export function section(title, ...children) {
  return h("section.section", {}, title ? h("h2.section-title", {}, title) : null, h("div.card", {}, ...children));
}

let toastTimer = null;

export function toast(text, kind) {
  const box = document.getElementById("toast");
  box.textContent = text;
  box.className = "toast" + (kind ? " " + kind : "");
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    box.hidden = true;
  }, 2500);
}

// A progress bar of `value` out of `max`, for leaderboards.
export function bar(value, max) {
  const share = max > 0 ? Math.max(0.02, Math.min(1, value / max)) : 0;
  return h("div.bar", {}, h("div.bar-fill", { style: "width:" + (share * 100).toFixed(1) + "%" }));
}

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = h("textarea.offscreen", { readonly: true });
    area.value = text;
    document.body.append(area);
    area.select();
    const done = document.execCommand("copy");
    area.remove();
    return done;
  }
}
