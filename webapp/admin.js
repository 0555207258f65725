// Admins: the programme's totals, today's postbacks by outcome and the payout queue.
// Approve and reject call the same service methods as /payout_ok and /payout_no.

import { api } from "./api.js";
import { _, dateTime, number } from "./i18n.js";
import * as tg from "./tg.js";
import { table } from "./dashboard.js";
import { empty, fill, h, section, toast } from "./ui.js";

async function approve(item, ctx, button) {
  const question = _("Approve payout #{id} of {amount} to {person}?", { id: item.id, amount: item.amount.text, person: item.person });
  if (!(await tg.confirm(question))) {
    return;
  }
  button.disabled = true; // one decision, however many taps
  try {
    await api.post("/api/admin/payouts/" + item.id + "/approve");
  } catch (error) {
    button.disabled = false;
    tg.haptic("error");
    toast(error.message, "error");
    return;
  }
  tg.haptic("success");
  toast(_("Payout #{id} approved", { id: item.id }));
  ctx.reload();
}

function queueItem(item, ctx) {
  return h(
    "div.card.payout",
    { dataset: { payout: item.id } },
    h("div.link-head", {}, h("b", {}, "#" + item.id + " · " + item.amount.text), h("span.hint", {}, item.requested_at ? dateTime(item.requested_at) : "")),
    h("div", {}, item.person),
    h("div.hint", {}, _("Balance: {amount}", { amount: item.balance.text })),
    h("code.url", {}, item.details),
    h(
      "div.actions",
      {},
      h("button.button.small", { dataset: { action: "approve" }, onclick: (event) => approve(item, ctx, event.currentTarget) }, _("Approve")),
      h("button.button.small.danger", { dataset: { action: "reject" }, onclick: () => ctx.open(rejectScreen(item)) }, _("Reject")),
    ),
  );
}

export function adminScreen() {
  return {
    async render(view, ctx) {
      const data = await api.get("/api/admin/overview");
      const pb = data.postbacks_today;
      fill(view, 
        h("h1.title", {}, _("Programme")),
        section(_("Totals"), table(data.totals)),
        section(
          _("Postbacks today"),
          h(
            "div.tiles",
            {},
            h("div.tile.ok", {}, h("b", {}, number(pb.stored)), h("span", {}, _("stored"))),
            h("div.tile", {}, h("b", {}, number(pb.duplicate)), h("span", {}, _("duplicate"))),
            h("div.tile.bad", {}, h("b", {}, number(pb.rejected)), h("span", {}, _("rejected"))),
          ),
        ),
        h(
          "section.section",
          {},
          h("h2.section-title", {}, _("Payout requests ({count})", { count: data.payouts.length })),
          data.payouts.length ? data.payouts.map((item) => queueItem(item, ctx)) : empty("✅", _("No payout requests waiting")),
        ),
      );
      ctx.main({ text: _("Refresh"), run: async () => ctx.reload() });
    },
  };
}

function rejectScreen(item) {
  return {
    async render(view, ctx) {
      const reason = h("textarea.input", { name: "reason", rows: "3", maxlength: "512", "aria-label": _("Reason") });
      const error = h("p.field-error", { role: "alert" });
      fill(view, 
        h("h1.title", {}, _("Reject payout #{id}", { id: item.id })),
        h("div.card", {}, h("div", {}, item.person), h("div.big", {}, item.amount.text)),
        h("div.card", {}, h("label.label", {}, _("Reason (the affiliate sees it)")), reason, error, h("p.hint", {}, _("The money goes back to the affiliate's balance."))),
      );
      ctx.main({
        text: _("Reject"),
        run: async () => {
          try {
            await api.post("/api/admin/payouts/" + item.id + "/reject", { reason: reason.value.trim() });
          } catch (failure) {
            tg.haptic("error");
            error.textContent = failure.message;
            return;
          }
          tg.haptic("success");
          toast(_("Payout #{id} rejected", { id: item.id }));
          ctx.back();
        },
      });
    },
  };
}
