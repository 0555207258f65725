// The Mini App: opens the session, then shows one screen at a time. Tabs are the roots;
// a screen opened from another is stacked, and Telegram's BackButton goes back.

import { api, ApiError, explain } from "./api.js";
import { _, load, pickLanguage, setZone } from "./i18n.js";
import * as tg from "./tg.js";
import { failure, fill, h, skeleton } from "./ui.js";
import { adminScreen } from "./admin.js";
import { balanceScreen } from "./balance.js";
import { dashboardScreen } from "./dashboard.js";
import { linksScreen } from "./links.js";
import { racesScreen } from "./races.js";

const TABS = [
  { name: "dashboard", icon: "📊", label: () => _("Dashboard"), screen: dashboardScreen },
  { name: "links", icon: "🔗", label: () => _("Links"), screen: linksScreen },
  { name: "races", icon: "🏁", label: () => _("Races"), screen: racesScreen },
  { name: "balance", icon: "💰", label: () => _("Balance"), screen: balanceScreen },
  { name: "admin", icon: "🛠", label: () => _("Admin"), screen: adminScreen, admin: true },
];

const state = { session: null, tab: "dashboard", stack: [], view: null };

// The app cannot go on: refused (initData forged or expired: only reopening helps), or the
// server could not be reached at the start (then it can be tried again).
function fatal(error, retry) {
  leaveTop();
  state.view = null;
  tg.main(null);
  tg.back(null);
  document.getElementById("tabs").hidden = true;
  const box = h(
    "div.fatal",
    { role: "alert" },
    h("div.empty-icon", {}, retry ? "📡" : "🔒"),
    h("p.empty-title", {}, error.message),
    retry ? h("button.button", { onclick: retry }, _("Try again")) : h("button.button", { onclick: () => tg.close() }, _("Close")),
  );
  document.getElementById("screen").replaceChildren(box);
  document.body.dataset.ready = retry ? "unreachable" : "refused";
}

// What a screen is given: where to draw, its Main button, and the way to other screens.
function context(view) {
  const active = () => state.view === view;
  return {
    session: state.session,
    active,
    main(action) {
      if (active()) {
        tg.main(action);
      }
    },
    // A screen moves the app only while it is the one shown: an answer that comes back after
    // the user went elsewhere changes nothing.
    open: (screen) => (active() ? nav.open(screen) : undefined),
    back: () => (active() ? nav.back() : undefined),
    reload: () => (active() ? nav.show() : undefined),
    fail(error) {
      if (error instanceof ApiError && error.status === 401) {
        fatal(error);
      } else if (active()) {
        fill(view, failure(error, () => nav.show()));
      }
    },
  };
}

export const nav = {
  async show() {
    const screen = state.stack[state.stack.length - 1];
    const view = h("div.view");
    state.view = view;
    view.append(skeleton(5));
    document.getElementById("screen").replaceChildren(view);
    tg.main(null);
    tg.back(state.stack.length > 1 ? () => nav.back() : null);
    window.scrollTo(0, 0);
    const ctx = context(view);
    try {
      await screen.render(view, ctx);
    } catch (error) {
      if (!(error instanceof ApiError)) {
        console.error(error);
      }
      ctx.fail(error instanceof ApiError ? error : new ApiError(0, "internal", _("Something went wrong. Please try again.")));
    }
  },
  open(screen) {
    leaveTop();
    state.stack.push(screen);
    tg.haptic();
    return nav.show();
  },
  back() {
    if (state.stack.length > 1) {
      leaveTop();
      state.stack.pop();
      tg.haptic();
      nav.show();
    }
  },
  tab(name) {
    const tab = TABS.find((t) => t.name === name);
    leaveTop();
    state.tab = name;
    state.stack = [tab.screen()];
    drawTabs();
    return nav.show();
  },
};

function leaveTop() {
  const top = state.stack[state.stack.length - 1];
  if (top && top.leave) {
    top.leave();
  }
}

function drawTabs() {
  const bar = document.getElementById("tabs");
  const shown = TABS.filter((t) => !t.admin || state.session.user.is_admin);
  bar.replaceChildren(
    ...shown.map((t) =>
      h(
        "button.tab" + (t.name === state.tab ? ".active" : ""),
        {
          dataset: { tab: t.name },
          "aria-current": t.name === state.tab ? "page" : null,
          onclick: () => {
            if (t.name !== state.tab || state.stack.length > 1) {
              tg.haptic("select");
              nav.tab(t.name);
            }
          },
        },
        h("span.tab-icon", {}, t.icon),
        h("span.tab-label", {}, t.label()),
      ),
    ),
  );
  bar.hidden = false;
}

async function boot() {
  tg.start();
  // The strings in the language Telegram gives, fetched while the session opens; the user's
  // own choice (the session says it) replaces them if it differs.
  const guess = pickLanguage(tg.unsafeUser.language_code || navigator.language);
  const strings = load(guess);
  let session;
  try {
    session = await api.post("/api/session");
  } catch (error) {
    await strings;
    tg.ready();
    const reachable = error.status !== 0 && error.status < 500;
    if (!reachable) {
      error.message = explain(error.status); // now in the user's language
    }
    fatal(error, reachable ? null : () => location.reload());
    return;
  }
  state.session = session;
  await strings;
  if (session.user.language !== guess) {
    await load(session.user.language);
  }
  setZone(session.user.time_zone);
  tg.ready();
  await nav.tab("dashboard");
  if (!session.can_message) {
    // Telegram says the bot may not write to this person yet: ask (once per opening).
    session.can_message = await tg.askWriteAccess();
    if (session.can_message) {
      document.querySelectorAll(".write-access").forEach((el) => el.remove());
    }
  }
}

boot();
