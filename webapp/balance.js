// Balance: available and pending per currency, the history, and a payout request with the
// chat's rules (the whole available balance, the minimum, one open request at a time).

import { api } from "./api.js";
import { _, dateTime } from "./i18n.js";
import * as tg from "./tg.js";
import { empty, failure, fill, h, section, toast } from "./ui.js";

function balanceCard(row) {
  return h(
    "div.card.balance",
    { dataset: { currency: row.currency } },
    h("div.hint", {}, _("Available")),
    h("div.big.available", {}, row.available.text),
    h(
      "div.counts",
      {},
      h("span", {}, _("Pending"), ": ", h("b.pending", {}, row.pending.text)),
      h("span", {}, _("Minimum payout"), ": ", h("b", {}, row.minimum.text)),
    ),
  );
}

function historyRow(item) {
  const negative = item.amount.amount.startsWith("-");
  return h(
    "li.row.history",
    {},
    h("div.grow", {}, h("div", {}, item.text), h("div.hint", {}, dateTime(item.at))),
    h("b.amount" + (negative ? ".minus" : ".plus"), {}, (negative ? "" : "+") + item.amount.text),
  );
}

async function historyBlock(ctx) {
  const list = h("ul.list");
  const more = h("button.button.secondary.small", {}, _("Show more"));
  let page = 0;
  const next = async () => {
    more.disabled = true;
    try {
      const data = await api.get("/api/history?page=" + page);
      list.append(...data.items.map(historyRow));
      page += 1;
      more.hidden = !data.has_more;
    } finally {
      more.disabled = false;
    }
  };
  more.addEventListener("click", () => next().catch((error) => toast(error.message, "error")));
  try {
    await next();
  } catch (error) {
    return failure(error, () => ctx.reload()); // not "no history": it could not be read
  }
  if (!list.children.length) {
    return empty("🧾", _("No history yet"), _("Earnings, prizes and payouts show here."));
  }
  return h("div", {}, list, h("div.center", {}, more));
}

function openRequest(request) {
  return h(
    "div.card.banner",
    {},
    h("b", {}, _("Payout request #{id}: {amount}", { id: request.id, amount: request.amount.text })),
    h("p.hint", {}, _("Waiting for an admin's review. To: {details}", { details: request.details })),
  );
}

function whyNoPayout(data) {
  if (data.open_request || !data.balances.length) {
    return null;
  }
  const row = data.balances[0];
  return h("p.hint.center", {}, _("You can ask for a payout from {minimum}.", { minimum: row.minimum.text }));
}

export function balanceScreen() {
  return {
    async render(view, ctx) {
      const data = await api.get("/api/balance");
      const payable = data.balances.filter((b) => b.can_request);
      const history = await historyBlock(ctx);
      fill(view, 
        h("h1.title", {}, _("Balance")),
        ...(data.balances.length ? data.balances.map(balanceCard) : [empty("💰", _("Nothing earned yet"), _("Share your links: what they earn shows here."))]),
        data.open_request ? openRequest(data.open_request) : null,
        payable.length ? null : whyNoPayout(data),
        section(_("History"), history),
      );
      if (payable.length) {
        ctx.main({ text: _("Request a payout"), run: async () => ctx.open(payoutScreen(payable)) });
      }
    },
  };
}

function payoutScreen(payable) {
  return {
    async render(view, ctx) {
      let chosen = payable[0];
      const amount = h("div.big", {}, chosen.available.text);
      const chips = h("div.chips");
      const pick = (row) => {
        chosen = row;
        amount.textContent = row.available.text;
        chips.replaceChildren(
          ...payable.map((r) =>
            h("button.chip" + (r === chosen ? ".active" : ""), { "aria-pressed": r === chosen ? "true" : "false", onclick: () => pick(r) }, r.currency),
          ),
        );
      };
      pick(chosen);
      const details = h("textarea.input", {
        name: "details",
        rows: "3",
        maxlength: "512",
        placeholder: _("Card, wallet or PayPal address"),
        "aria-label": _("Where to pay"),
      });
      const error = h("p.field-error", { role: "alert" });
      fill(view, 
        h("h1.title", {}, _("Payout request")),
        payable.length > 1 ? chips : null,
        h("div.card", {}, h("div.hint", {}, _("The whole available balance")), amount),
        h("div.card", {}, h("label.label", {}, _("Where to pay")), details, error, h("p.hint", {}, _("An admin reviews the request; the bot tells you the outcome."))),
      );
      ctx.main({
        text: _("Send request"),
        run: async () => {
          error.textContent = "";
          if (!details.value.trim()) {
            tg.haptic("error");
            error.textContent = _("Say where to send the money.");
            return;
          }
          try {
            await api.post("/api/payouts", { currency: chosen.currency, details: details.value.trim() });
          } catch (failure) {
            tg.haptic("error");
            error.textContent = failure.message;
            return;
          }
          tg.haptic("success");
          toast(_("Payout requested"));
          ctx.back();
        },
      });
    },
  };
}
