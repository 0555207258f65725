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

async function call(method, path, body, as) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  const headers = { Authorization: "tma " + initData };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
  }
  let resp;
  try {
    resp = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: controller.signal,
    });
  } catch {
    throw new ApiError(0, "network", _("No connection to the server. Check your internet and try again."));
  } finally {
    clearTimeout(timer);
  }
  if (!resp.ok) {
    let refusal = null;
    try {
      refusal = await resp.json();
    } catch {
      refusal = null;
    }
    const text = (refusal && refusal.error) || _("Something went wrong. Please try again.");
    throw new ApiError(resp.status, (refusal && refusal.code) || "internal", text);
  }
  return as === "blob" ? resp.blob() : resp.json();
}

export const api = {
  get: (path) => call("GET", path),
  post: (path, body) => call("POST", path, body === undefined ? {} : body),
  del: (path) => call("DELETE", path),
  blob: (path) => call("GET", path, undefined, "blob"),
};

// The live board of a race: `onCard` gets the race as the user sees it, at once and after
// every tick; the socket reconnects by itself (with a growing pause) until `close()`.
export function watchRace(raceId, onCard, onState) {
  let socket = null;
  let closed = false;
  let pause = 1000;
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const url = scheme + "//" + location.host + "/ws/races/" + raceId + "?auth=" + encodeURIComponent(initData);

  function connect() {
    socket = new WebSocket(url);
    socket.onopen = () => {
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
      onState("reconnecting");
      setTimeout(connect, pause);
      pause = Math.min(pause * 2, 30000);
    };
  }
  connect();
  return {
    close() {
      closed = true;
      if (socket) {
        socket.close();
      }
    },
  };
}
