// The app's strings come from the bot's own catalogues (/app/i18n/LANG.json, exported from
// locales/): `_("English text")` is the message id, as in the Python code, and
// `python3 dev.py locales` extracts these calls.

let messages = {};
let language = "en";
let zone = "UTC";

export const LANGUAGES = ["en", "ru"];

export function pickLanguage(code) {
  const base = String(code || "").split("-")[0].toLowerCase();
  return LANGUAGES.includes(base) ? base : "en";
}

export async function load(lang) {
  language = pickLanguage(lang);
  document.documentElement.lang = language;
  try {
    const resp = await fetch("/app/i18n/" + language + ".json");
    if (resp.ok) {
      messages = (await resp.json()).messages || {};
    }
  } catch {
    messages = {}; // the English ids still read well
  }
}

export function lang() {
  return language;
}

// The text of a message id in the user's language, `{name}` fields filled from `params`.
export function _(id, params) {
  const text = messages[id] || id;
  if (!params) {
    return text;
  }
  return text.replace(/\{(\w+)\}/g, (all, name) => (name in params ? String(params[name]) : all));
}

export function number(value) {
  return new Intl.NumberFormat(language).format(value);
}

// Times are shown in the user's own zone (Settings in the chat), as the chat shows them.
export function setZone(name) {
  try {
    new Intl.DateTimeFormat("en", { timeZone: name });
    zone = name;
  } catch {
    zone = "UTC";
  }
}

export function dateTime(iso) {
  return new Intl.DateTimeFormat(language, {
    day: "numeric",
    month: "short",
    hour: "2-digit",
    minute: "2-digit",
    timeZone: zone,
  }).format(new Date(iso));
}
