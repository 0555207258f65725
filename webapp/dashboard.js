// Dashboard: today / 7 days / 30 days side by side, and a chart of the period picked.

import { api } from "./api.js";
import { drawChart } from "./chart.js";
import { _, lang, number } from "./i18n.js";
import * as tg from "./tg.js";
import { failure, fill, h, section, toast } from "./ui.js";

const COLUMNS = ["today", "7d", "30d"];
const PERIODS = [
  ["today", () => _("Today")],
  ["7d", () => _("7 days")],
  ["30d", () => _("30 days")],
  ["all", () => _("All time")],
];
let period = "7d";

function moneyList(list) {
  return list.map((m) => h("div", {}, m.text));
}

export function table(cards) {
  const rows = [
    [_("Clicks"), (c) => number(c.clicks)],
    [_("Unique clicks"), (c) => number(c.unique_clicks)],
    [_("Referrals"), (c) => number(c.referrals)],
    [_("Conversions"), (c) => number(c.conversions)],
    [_("Conversion rate"), (c) => c.conversion_rate || "—"],
    [_("Earnings"), (c) => moneyList(c.earnings)],
    [_("EPC"), (c) => (c.epc ? c.epc.text : "—")],
  ];
  const head = h("tr", {}, h("th"), h("th", {}, _("Today")), h("th", {}, _("7 days")), h("th", {}, _("30 days")));
  const body = rows.map(([label, cell]) =>
    h("tr", {}, h("th", { scope: "row" }, label), COLUMNS.map((col) => h("td", { dataset: { period: col } }, cell(cards[col])))),
  );
  return h("div.table-scroll", {}, h("table.numbers", {}, h("thead", {}, head), h("tbody", {}, body)));
}

function chartBlock(data) {
  const chart = data.chart;
  const empty = chart.points.every((p) => p.conversions === 0 && Number(p.earnings) === 0);
  return h(
    "div.chart-block",
    {},
    drawChart(chart, lang()),
    h(
      "div.legend",
      {},
      h("span.key.money", {}, _("Earnings, {currency}", { currency: chart.currency })),
      h("span.key.count", {}, _("Conversions")),
    ),
    empty ? h("p.hint.center", {}, _("Nothing earned in this period yet.")) : null,
  );
}

function writeAccessBanner(ctx) {
  if (ctx.session.can_message) {
    return null;
  }
  const ask = async () => {
    ctx.session.can_message = await tg.askWriteAccess();
    if (ctx.session.can_message) {
      tg.haptic("success");
      document.querySelectorAll(".write-access").forEach((el) => el.remove());
    }
  };
  return h(
    "div.card.banner.write-access",
    {},
    h("p", {}, _("Let the bot message you: conversions, referrals and race news arrive in the chat.")),
    h("button.button.secondary", { onclick: ask }, _("Allow messages")),
  );
}

export function dashboardScreen() {
  return {
    async render(view, ctx) {
      const data = await api.get("/api/dashboard?period=" + period);
      const chartHolder = h("div", {}, chartBlock(data));
      const chips = h("div.chips", { role: "tablist" });
      let asked = 0;
      const drawChips = () =>
        chips.replaceChildren(
          ...PERIODS.map(([value, label]) =>
            h(
              "button.chip" + (value === period ? ".active" : ""),
              {
                role: "tab",
                "aria-selected": value === period ? "true" : "false",
                dataset: { period: value },
                onclick: async () => {
                  if (value === period) {
                    return;
                  }
                  tg.haptic("select");
                  period = value;
                  const mine = ++asked;
                  drawChips();
                  chartHolder.classList.add("loading");
                  let block;
                  try {
                    block = chartBlock(await api.get("/api/dashboard?period=" + value));
                  } catch (error) {
                    if (error.status === 401) {
                      ctx.fail(error);
                      return;
                    }
                    block = failure(error, null);
                  }
                  if (mine === asked) {
                    chartHolder.classList.remove("loading"); // only the last pick is drawn
                    chartHolder.replaceChildren(block);
                  }
                },
              },
              label(),
            ),
          ),
        );
      drawChips();
      fill(view, 
        h("h1.title", {}, _("Hi, {name}!", { name: ctx.session.user.name })),
        writeAccessBanner(ctx),
        section(_("Your numbers"), table(data.cards)),
        section(_("Earnings and conversions"), chips, chartHolder),
      );
      ctx.main({
        text: _("Share my link"),
        run: async () => {
          if (!tg.shareInline("")) {
            toast(_("Sharing into a chat is not available here: copy the link from Links instead."), "error");
          }
        },
      });
      document.body.dataset.ready = "dashboard";
      window.affraceReadyAt = window.affraceReadyAt || performance.now();
    },
  };
}
