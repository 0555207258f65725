// Telegram's client as a Mini App sees it (window.Telegram.WebApp, Bot API 8.0), for the
// browser tests: what the app asks of Telegram is recorded in window.__tg.calls, and the
// test presses the native Back and Main buttons, answers popups and changes the theme.
(() => {
  const config = window.__TG_CONFIG__;
  const calls = [];
  const listeners = {};
  const record = (name, ...args) => calls.push({ name, args });
  const emit = (event) => (listeners[event] || []).forEach((fn) => fn.call(WebApp));
  const params = new URLSearchParams(config.initData);
  let user = {};
  try {
    user = JSON.parse(params.get("user") || "{}");
  } catch (e) {
    user = {};
  }
  const handlers = (holder) => ({
    list: [],
    onClick(fn) { this.list.push(fn); record(holder + ".onClick"); return this; },
    offClick(fn) { this.list = this.list.filter((f) => f !== fn); return this; },
  });
  const BackButton = Object.assign(handlers("BackButton"), {
    isVisible: false,
    show() { this.isVisible = true; record("BackButton.show"); return this; },
    hide() { this.isVisible = false; record("BackButton.hide"); return this; },
  });
  const MainButton = Object.assign(handlers("MainButton"), {
    text: "", isVisible: false, isActive: true, isProgressVisible: false,
    setText(text) { this.text = text; return this; },
    setParams(p) {
      if ("text" in p) this.text = p.text;
      if ("is_visible" in p) this.isVisible = p.is_visible;
      if ("is_active" in p) this.isActive = p.is_active;
      record("MainButton.setParams", p);
      return this;
    },
    show() { this.isVisible = true; return this; },
    hide() { this.isVisible = false; record("MainButton.hide"); return this; },
    enable() { this.isActive = true; return this; },
    disable() { this.isActive = false; return this; },
    showProgress() { this.isProgressVisible = true; return this; },
    hideProgress() { this.isProgressVisible = false; return this; },
  });
  const WebApp = {
    initData: config.initData,
    initDataUnsafe: { user, start_param: params.get("start_param") || undefined },
    version: "8.0",
    platform: "android",
    colorScheme: config.scheme,
    themeParams: config.theme,
    safeAreaInset: { top: 0, bottom: 0, left: 0, right: 0 },
    contentSafeAreaInset: { top: 0, bottom: 0, left: 0, right: 0 },
    isExpanded: false,
    isVersionAtLeast(v) { return parseFloat(v) <= 8.0; },
    ready() { record("ready"); },
    expand() { this.isExpanded = true; record("expand"); },
    close() { record("close"); },
    setHeaderColor(c) { record("setHeaderColor", c); },
    setBackgroundColor(c) { record("setBackgroundColor", c); },
    onEvent(event, fn) { (listeners[event] = listeners[event] || []).push(fn); },
    offEvent(event, fn) { listeners[event] = (listeners[event] || []).filter((f) => f !== fn); },
    showConfirm(message, callback) {
      record("showConfirm", message);
      setTimeout(() => callback(window.__tg.confirmAnswer), 0);
    },
    switchInlineQuery(query, types) { record("switchInlineQuery", query, types); },
    requestWriteAccess(callback) {
      record("requestWriteAccess");
      setTimeout(() => callback(window.__tg.writeAccessAnswer), 0);
    },
    HapticFeedback: {
      impactOccurred(style) { record("haptic.impact", style); },
      notificationOccurred(type) { record("haptic.notification", type); },
      selectionChanged() { record("haptic.selection"); },
    },
    BackButton,
    MainButton,
  };
  window.Telegram = { WebApp };
  window.__tg = {
    calls,
    confirmAnswer: true,
    writeAccessAnswer: false,
    names() { return calls.map((c) => c.name); },
    pressBack() { BackButton.list.slice().forEach((fn) => fn()); },
    pressMain() { MainButton.list.slice().forEach((fn) => fn()); },
    setTheme(scheme, theme) {
      WebApp.colorScheme = scheme;
      WebApp.themeParams = theme;
      emit("themeChanged");
    },
  };
})();
