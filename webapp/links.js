// Links: each link with its numbers, copy, share into a chat (the inline card), its QR code;
// sub-links (labelled traffic sources) created and removed here as in the chat.

import { api } from "./api.js";
import { _, number } from "./i18n.js";
import * as tg from "./tg.js";
import { copyText, empty, fill, h, section, toast } from "./ui.js";

const KIND = {
  own: () => _("Bot"),
  url: () => _("Website"),
  bot: () => _("Bot"),
  app: () => _("Mini App"),
  channel: () => _("Channel"),
};

async function copy(url) {
  if (await copyText(url)) {
    tg.haptic("success");
    toast(_("Link copied"));
  } else {
    toast(_("Could not copy: hold the link to copy it."), "error");
  }
}

// Into a chat as the bot's inline card; a sub-link as "CODE label" (the card carries its URL).
function share(link, label) {
  tg.haptic();
  if (!tg.shareInline(label ? link.code + " " + label : link.code)) {
    toast(_("Sharing into a chat is not available here: copy the link from Links instead."), "error");
  }
}

function counts(sub) {
  return h(
    "div.counts",
    {},
    h("span", {}, _("Clicks"), ": ", h("b", {}, number(sub.clicks))),
    h("span", {}, _("Unique"), ": ", h("b", {}, number(sub.unique_clicks))),
    h("span", {}, _("Referrals"), ": ", h("b", {}, number(sub.referrals))),
  );
}

function linkCard(link, ctx) {
  const plain = link.subs.find((s) => s.label === null) || link.subs[0];
  const ready = link.url !== null;
  return h(
    "div.card.link",
    { dataset: { code: link.code } },
    h("div.link-head", {}, h("b.link-title", {}, link.title), h("span.badge", {}, (KIND[link.kind] || KIND.own)())),
    ready ? h("code.url", {}, link.url) : h("p.hint", {}, _("The invite link is not ready yet: the bot must be an admin of the channel.")),
    plain ? counts(plain) : null,
    ready
      ? h(
          "div.actions",
          {},
          h("button.button.small", { onclick: () => copy(link.url) }, _("Copy")),
          h("button.button.small.secondary", { onclick: () => share(link) }, _("Share")),
          h("button.button.small.secondary", { onclick: () => ctx.open(linkScreen(link)) }, _("QR code")),
        )
      : null,
  );
}

async function removeSublink(label, ctx) {
  if (!(await tg.confirm(_("Remove the sub-link “{label}”? Its links stop working.", { label })))) {
    return;
  }
  try {
    await api.del("/api/sublinks/" + encodeURIComponent(label));
    tg.haptic("success");
    toast(_("Sub-link removed"));
    ctx.reload();
  } catch (error) {
    tg.haptic("error");
    toast(error.message, "error");
  }
}

export function linksScreen() {
  return {
    async render(view, ctx) {
      const data = await api.get("/api/links");
      const subs = data.sublinks.length
        ? h(
            "ul.list",
            {},
            data.sublinks.map((label) =>
              h(
                "li.row",
                { dataset: { label } },
                h("span.grow", {}, label),
                h("button.icon-button", { "aria-label": _("Remove {label}", { label }), onclick: () => removeSublink(label, ctx) }, "✕"),
              ),
            ),
          )
        : empty("🏷", _("No sub-links yet"), _("Label where you post (youtube, channel-a…): each sub-link counts on its own."));
      fill(view, 
        h("h1.title", {}, _("My links")),
        ...data.links.map((link) => linkCard(link, ctx)),
        section(_("Sub-links ({count} of {max})", { count: data.sublinks.length, max: data.max_sublinks }), subs),
      );
      if (data.sublinks.length < data.max_sublinks) {
        ctx.main({ text: _("Add a sub-link"), run: async () => ctx.open(newSublinkScreen()) });
      }
    },
  };
}

function qrPath(link, label) {
  return "/api/links/" + link.link_id + "/qr" + (label ? "?sub=" + encodeURIComponent(label) : "");
}

function linkScreen(link) {
  let objectUrl = null;
  return {
    async render(view, ctx) {
      let chosen = link.subs.find((s) => s.label === null) || link.subs[0];
      let asked = 0;
      const holder = h("div.qr-holder");
      const urlBox = h("code.url");
      const chips = h("div.chips");
      const choose = async (sub) => {
        chosen = sub;
        const mine = ++asked;
        urlBox.textContent = sub.url;
        chips.replaceChildren(
          ...link.subs.map((s) =>
            h(
              "button.chip" + (s === chosen ? ".active" : ""),
              { "aria-pressed": s === chosen ? "true" : "false", onclick: () => choose(s) },
              s.label || _("Main link"),
            ),
          ),
        );
        holder.classList.add("loading");
        let image;
        try {
          const blob = await api.blob(qrPath(link, sub.label));
          if (mine !== asked) {
            return; // another sub-link was picked meanwhile: its picture wins
          }
          URL.revokeObjectURL(objectUrl);
          objectUrl = URL.createObjectURL(blob);
          image = h("img.qr", { src: objectUrl, alt: _("QR code of the link") });
        } catch (error) {
          if (mine !== asked) {
            return;
          }
          image = h("p.field-error", { role: "alert" }, error.message);
        }
        holder.classList.remove("loading");
        holder.replaceChildren(image);
      };
      await choose(chosen);
      const rows = link.subs.map((s) => h("div.sub-row", {}, h("b", {}, s.label || _("Main link")), counts(s)));
      fill(
        view,
        h("h1.title", {}, link.title),
        link.subs.length > 1 ? chips : null,
        h("div.card.center", {}, holder, urlBox, h("div.actions.center-actions", {}, h("button.button.small", { onclick: () => copy(chosen.url) }, _("Copy")))),
        section(_("Numbers"), rows),
      );
      ctx.main({ text: _("Share"), run: async () => share(link, chosen.label) });
    },
    leave() {
      URL.revokeObjectURL(objectUrl);
    },
  };
}

function newSublinkScreen() {
  return {
    async render(view, ctx) {
      const input = h("input.input", {
        name: "label",
        maxlength: "32",
        autocomplete: "off",
        placeholder: "youtube",
        "aria-label": _("Sub-link name"),
      });
      const error = h("p.field-error", { role: "alert" });
      fill(view, 
        h("h1.title", {}, _("New sub-link")),
        h("div.card", {}, h("label.label", {}, _("Name")), input, error, h("p.hint", {}, _("Latin letters, digits and dashes, up to 32: e.g. youtube or channel-a."))),
      );
      input.focus();
      ctx.main({
        text: _("Create"),
        run: async () => {
          error.textContent = "";
          if (!input.value.trim()) {
            tg.haptic("error");
            error.textContent = _("Type a name for the sub-link.");
            return;
          }
          try {
            await api.post("/api/sublinks", { label: input.value.trim() });
          } catch (failure) {
            tg.haptic("error");
            error.textContent = failure.message;
            return;
          }
          tg.haptic("success");
          toast(_("Sub-link created"));
          ctx.back();
        },
      });
    },
  };
}
