// Telegram's client as the app uses it: theme, safe areas, the Back and Main buttons,
// haptics, sharing and write access. Outside Telegram (no WebApp object) every call is a
// harmless no-op, so the page still shows why it cannot work.

const WebApp = (window.Telegram && window.Telegram.WebApp) || null;

export const initData = WebApp ? WebApp.initData || "" : "";
export const unsafeUser = (WebApp && WebApp.initDataUnsafe && WebApp.initDataUnsafe.user) || {};

function supports(version) {
  return Boolean(WebApp && WebApp.isVersionAtLeast && WebApp.isVersionAtLeast(version));
}

const THEME_VARS = {
  bg_color: "--bg",
  text_color: "--text",
  hint_color: "--hint",
  link_color: "--link",
  button_color: "--button",
  button_text_color: "--button-text",
  secondary_bg_color: "--secondary-bg",
  section_bg_color: "--section-bg",
  section_header_text_color: "--section-header",
  subtitle_text_color: "--subtitle",
  accent_text_color: "--accent",
  destructive_text_color: "--destructive",
};

function applyTheme() {
  const root = document.documentElement;
  const params = (WebApp && WebApp.themeParams) || {};
  for (const [key, name] of Object.entries(THEME_VARS)) {
    if (params[key]) {
      root.style.setProperty(name, params[key]);
    } else {
      root.style.removeProperty(name);
    }
  }
  root.dataset.scheme = (WebApp && WebApp.colorScheme) || "light";
}

function applyInsets() {
  const root = document.documentElement;
  const pairs = [
    ["safeAreaInset", "--safe"],
    ["contentSafeAreaInset", "--content-safe"],
  ];
  for (const [field, prefix] of pairs) {
    const inset = (WebApp && WebApp[field]) || {};
    for (const side of ["top", "bottom", "left", "right"]) {
      root.style.setProperty(prefix + "-" + side, (inset[side] || 0) + "px");
    }
  }
}

export function start() {
  applyTheme();
  applyInsets();
  if (!WebApp) {
    return;
  }
  WebApp.onEvent("themeChanged", applyTheme);
  WebApp.onEvent("safeAreaChanged", applyInsets);
  WebApp.onEvent("contentSafeAreaChanged", applyInsets);
  WebApp.expand();
}

export function ready() {
  if (WebApp) {
    if (supports("6.1")) {
      // The page's own background: no seam under the header or past the page's ends.
      WebApp.setHeaderColor("secondary_bg_color");
      WebApp.setBackgroundColor("secondary_bg_color");
    }
    WebApp.ready();
  }
}

// -- the Back button: shown while there is somewhere to go back to

let backHandler = null;

export function back(handler) {
  if (!WebApp || !WebApp.BackButton) {
    return;
  }
  if (backHandler) {
    WebApp.BackButton.offClick(backHandler);
    backHandler = null;
  }
  if (handler) {
    backHandler = handler;
    WebApp.BackButton.onClick(handler);
    WebApp.BackButton.show();
  } else {
    WebApp.BackButton.hide();
  }
}

// -- the Main button: each screen's one main action

let mainHandler = null;

export function main(action) {
  if (!WebApp || !WebApp.MainButton) {
    return;
  }
  const button = WebApp.MainButton;
  if (mainHandler) {
    button.offClick(mainHandler);
    mainHandler = null;
  }
  if (!action) {
    button.hideProgress();
    button.hide();
    return;
  }
  mainHandler = async () => {
    if (!button.isActive) {
      return;
    }
    button.disable();
    button.showProgress(false);
    try {
      await action.run();
    } finally {
      button.hideProgress();
      button.enable();
    }
  };
  button.setParams({ text: action.text, is_active: true, is_visible: true });
  button.onClick(mainHandler);
}

// -- feedback

export function haptic(kind) {
  const feedback = WebApp && supports("6.1") ? WebApp.HapticFeedback : null;
  if (!feedback) {
    return;
  }
  if (kind === "success" || kind === "error" || kind === "warning") {
    feedback.notificationOccurred(kind);
  } else if (kind === "select") {
    feedback.selectionChanged();
  } else {
    feedback.impactOccurred("light");
  }
}

let asking = false;

// Yes or no from the user, in Telegram's own popup. A second question while one is open is
// answered "no" (Telegram refuses two popups at once: a double tap).
export async function confirm(message) {
  if (asking) {
    return false;
  }
  asking = true;
  try {
    if (WebApp && supports("6.2")) {
      return await new Promise((resolve) => WebApp.showConfirm(message, (ok) => resolve(Boolean(ok))));
    }
    return window.confirm(message);
  } catch {
    return false;
  } finally {
    asking = false;
  }
}

// -- leaving the app for a chat

// Into a chat the user picks, as the bot's inline card. False: not possible here (outside
// Telegram, or the bot's inline mode is off, when Telegram's script refuses).
export function shareInline(query) {
  if (!WebApp || !supports("6.7")) {
    return false;
  }
  try {
    WebApp.switchInlineQuery(query, ["users", "groups", "channels"]);
    return true;
  } catch {
    return false;
  }
}

export function askWriteAccess() {
  if (!WebApp || !supports("6.9")) {
    return Promise.resolve(false);
  }
  return new Promise((resolve) => WebApp.requestWriteAccess((granted) => resolve(Boolean(granted))));
}

export function close() {
  if (WebApp) {
    WebApp.close();
  }
}
