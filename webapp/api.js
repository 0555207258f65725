// The JSON API, every request carrying the Telegram initData it is proven by. A refusal
// becomes an ApiError with the server's own words (already in the user's language).

import { _ } from "./i18n.js";
import { initData } from "./tg.js";

const TIMEOUT_MS = 15000;

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// What went wrong, in the user's words: the server's own refusal (already in their language),
// or ours when the server is down or could not be reached.
export function explain(status, refusal) {
  if (status === 0) {
    return _("No connection to the server. Check your internet and try again.");
  }
  if (status >= 500) {
    return _("The server is not available right now. Please try again in a moment.");
  }
  return (refusal && refusal.error) || _("Something went wrong. Please try again.");
}

async function call(method, path, body, as) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  const headers = { Authorization: "tma " + initData };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
  }
  try {
    let resp;
    try {
      resp = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: controller.signal,
      });
    } catch {
      throw new ApiError(0, "network", explain(0));
    }
    let parsed = null;
    try {
      parsed = as === "blob" && resp.ok ? await resp.blob() : await resp.json();
    } catch {
      parsed = null; // a body cut off, or not JSON: said below in the user's words
    }
    if (!resp.ok || parsed === null) {
      const status = resp.ok ? 502 : resp.status;
      throw new ApiError(status, (parsed && parsed.code) || "internal", explain(status, parsed));
    }
    return parsed;
  } finally {
    clearTimeout(timer); // the timeout covers the body too: a stalled answer ends
  }
}

export const api = {
  get: (path) => call("GET", path),
  post: (path, body) => call("POST", path, body === undefined ? {} : body),
  del: (path) => call("DELETE", path),
  blob: (path) => call("GET", path, undefined, "blob"),
};

// The live board of a race: `onCard` gets the race as the user sees it, at once and after
// every tick; the socket reconnects by itself (with a growing pause) until `close()`.
// `onState(state, detail)`: "live", "reconnecting" (detail: failed attempts in a row) or
// "gone" (detail: the server's reason).
export function watchRace(raceId, onCard, onState) {
  let socket = null;
  let closed = false;
  let pause = 1000;
  let failures = 0;
  let retry = null;
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const url = scheme + "//" + location.host + "/ws/races/" + raceId + "?auth=" + encodeURIComponent(initData);

  function connect() {
    retry = null;
    if (closed) {
      return;
    }
    let opened = false;
    socket = new WebSocket(url);
    socket.onopen = () => {
      opened = true;
      failures = 0;
      pause = 1000;
      onState("live");
    };
    socket.onmessage = (event) => {
      let message = null;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (message.type === "card") {
        onCard(message.card);
      } else if (message.type === "error") {
        closed = true;
        onState("gone", message.error);
      }
    };
    socket.onclose = () => {
      if (closed) {
        return;
      }
      failures = opened ? 1 : failures + 1;
      onState("reconnecting", failures);
      retry = setTimeout(connect, pause);
      pause = Math.min(pause * 2, 30000);
    };
  }
  connect();
  return {
    close() {
      closed = true;
      clearTimeout(retry);
      if (socket) {
        socket.close();
      }
    },
  };
}
