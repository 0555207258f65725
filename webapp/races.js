// Races: the list, and a race's leaderboard, live over a WebSocket: the server sends the
// race as this user sees it at once and after every tick that moved it.

import { api, watchRace } from "./api.js";
import { _, dateTime, number } from "./i18n.js";
import * as tg from "./tg.js";
import { bar, empty, fill, h, section, toast } from "./ui.js";

const MEDALS = { 1: "🥇", 2: "🥈", 3: "🥉" };
const DAY = 86400;

function pad(n) {
  return String(n).padStart(2, "0");
}

export function countdown(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const days = Math.floor(s / DAY);
  const hours = Math.floor((s % DAY) / 3600);
  if (days > 0) {
    return _("{days} d {hours} h", { days, hours });
  }
  return pad(hours) + ":" + pad(Math.floor((s % 3600) / 60)) + ":" + pad(s % 60);
}

function when(race) {
  const now = Date.now() / 1000;
  if (race.status === "scheduled") {
    return _("Starts in {left}", { left: countdown(Date.parse(race.starts_at) / 1000 - now) });
  }
  if (race.status === "running") {
    return _("Ends in {left}", { left: countdown(Date.parse(race.ends_at) / 1000 - now) });
  }
  return _("Finished {date}", { date: dateTime(race.ends_at) });
}

function raceRow(race, ctx) {
  return h(
    "button.card.race-row",
    { dataset: { race: race.id }, onclick: () => ctx.open(boardScreen(race.id)) },
    h("div.link-head", {}, h("b", {}, race.title), race.joined ? h("span.badge", {}, _("Joined")) : null),
    h("div.hint", {}, race.metric, " · ", h("span.when", { dataset: { status: race.status } }, when(race))),
  );
}

export function racesScreen() {
  let timer = null;
  return {
    async render(view, ctx) {
      const data = await api.get("/api/races");
      if (!ctx.active()) {
        return;
      }
      if (!data.races.length) {
        fill(view, 
          h("h1.title", {}, _("Races")),
          empty("🏁", _("No races yet"), _("When a race is announced, it shows here and the bot tells you.")),
        );
        return;
      }
      const groups = [
        ["running", _("Running")],
        ["scheduled", _("Upcoming")],
        ["finished", _("Finished")],
      ];
      fill(view, 
        h("h1.title", {}, _("Races")),
        ...groups
          .map(([status, title]) => [title, data.races.filter((r) => r.status === status)])
          .filter(([, races]) => races.length)
          .map(([title, races]) => h("section.section", {}, h("h2.section-title", {}, title), races.map((r) => raceRow(r, ctx)))),
      );
      timer = setInterval(() => {
        view.querySelectorAll(".race-row").forEach((row) => {
          const race = data.races.find((r) => String(r.id) === row.dataset.race);
          row.querySelector(".when").textContent = when(race);
        });
      }, 1000);
    },
    leave() {
      clearInterval(timer);
    },
  };
}

function standingRow(s, top) {
  return h(
    "li.standing" + (s.me ? ".me" : ""),
    { dataset: { rank: s.rank } },
    h("span.rank", {}, MEDALS[s.rank] || "#" + s.rank),
    h("div.grow", {}, h("div.standing-line", {}, h("span.name", {}, s.name), h("b.score", {}, s.score_text)), bar(s.score, top)),
  );
}

function mine(card) {
  if (card.result) {
    return h(
      "div.card.me-card.result",
      {},
      h("div.big", {}, card.result.prize ? "🏆 " + card.result.prize : "#" + card.result.place),
      h("p", {}, card.result.outcome),
    );
  }
  if (card.race.status === "finished") {
    return h("div.card.me-card", {}, h("p", {}, _("You did not take part in this race.")));
  }
  if (!card.me) {
    const text = card.can_join ? _("Join to take part: your points count from now on.") : _("You have no points in this race yet.");
    return h("div.card.me-card", {}, h("p", {}, text));
  }
  return h(
    "div.card.me-card",
    {},
    h("div.big", {}, "#" + card.me.rank, h("span.hint", {}, " · ", card.me.score_text)),
    card.gap ? h("p.gap", {}, card.gap.text) : null,
    card.provisional ? h("p.hint", {}, _("+{points} pending, counted once approved", { points: card.provisional_text })) : null,
  );
}

function drawCard(holder, card) {
  const top = card.top.length ? Math.max(...card.top.map((s) => s.score)) : 0;
  holder.replaceChildren(
    h("h1.title", {}, card.race.title),
    h("p.hint", {}, card.race.metric, " · ", h("span.when", {}, when(card.race)), " · ", _("{count} taking part", { count: number(card.participants) })),
    card.description ? h("p.description", {}, card.description) : null,
    mine(card),
    section(
      _("Leaderboard"),
      card.top.length ? h("ol.board", {}, card.top.map((s) => standingRow(s, top))) : empty("🏁", _("Nobody has scored yet"), _("Be the first!")),
    ),
    card.prizes.length
      ? section(_("Prizes"), h("ul.list", {}, card.prizes.map((p) => h("li.row", {}, h("span.rank", {}, MEDALS[p.place] || "#" + p.place), h("span.grow", {}, p.text)))))
      : null,
  );
}

function boardScreen(raceId) {
  let feed = null;
  let timer = null;
  return {
    async render(view, ctx) {
      let card = await api.get("/api/races/" + raceId);
      if (!ctx.active()) {
        return; // left before the race arrived: open no socket
      }
      const status = h("div.live", { dataset: { state: "connecting" } }, _("Connecting…"));
      const holder = h("div");
      fill(view, status, holder);
      let joinable = null;
      const join = {
        text: _("Join the race"),
        run: async () => {
          try {
            show(await api.post("/api/races/" + raceId + "/join"));
            tg.haptic("success");
            toast(_("You're in!"));
          } catch (error) {
            tg.haptic("error");
            toast(error.message, "error");
          }
        },
      };
      const show = (fresh) => {
        card = fresh;
        drawCard(holder, card);
        if (card.can_join !== joinable) {
          joinable = card.can_join; // a live update leaves a pressed button alone
          ctx.main(joinable ? join : null);
        }
      };
      show(card);
      feed = watchRace(
        raceId,
        (fresh) => {
          if (ctx.active()) {
            show(fresh);
          }
        },
        async (state, detail) => {
          status.dataset.state = state;
          status.textContent = state === "live" ? _("Live") : state === "gone" ? detail : _("Reconnecting…");
          if (state === "reconnecting" && detail % 3 === 0) {
            // A socket refused at once, again and again: is the session still valid?
            try {
              await api.get("/api/races/" + raceId);
            } catch (error) {
              if (error.status === 401 || error.status === 404) {
                ctx.fail(error);
              }
            }
          }
        },
      );
      timer = setInterval(() => {
        const clock = holder.querySelector(".when");
        if (clock) {
          clock.textContent = when(card.race);
        }
      }, 1000);
    },
    leave() {
      clearInterval(timer);
      if (feed) {
        feed.close();
      }
    },
  };
}
