// Earnings (a line over an area, left axis) and conversions (bars, right axis) per hour or
// day, as an SVG of our own: no chart library, nothing to download.

import { _, number } from "./i18n.js";

const NS = "http://www.w3.org/2000/svg";
const W = 340;
const H = 190;
const PAD = { left: 42, right: 28, top: 12, bottom: 26 };
const MAX_LABELS = 6;

function svg(tag, attrs, text) {
  const el = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    el.setAttribute(key, value);
  }
  if (text !== undefined) {
    el.textContent = text;
  }
  return el;
}

// A round top for an axis (1, 2, 5 × 10^n) at or above `value`.
function niceMax(value) {
  if (value <= 0) {
    return 1;
  }
  const power = Math.pow(10, Math.floor(Math.log10(value)));
  for (const step of [1, 2, 5, 10]) {
    if (value <= step * power) {
      return step * power;
    }
  }
  return 10 * power;
}

function money(value, currency, lang, top) {
  const digits = top < 10 ? 2 : 0; // $0.50 steps must not all read "$1"
  try {
    return new Intl.NumberFormat(lang, { style: "currency", currency, minimumFractionDigits: digits, maximumFractionDigits: digits }).format(value);
  } catch {
    return number(value);
  }
}

export function drawChart(chart, lang) {
  const points = chart.points;
  const earnings = points.map((p) => Number(p.earnings));
  const conversions = points.map((p) => p.conversions);
  const topMoney = niceMax(Math.max(0, ...earnings));
  const topCount = niceMax(Math.max(0, ...conversions));
  const innerW = W - PAD.left - PAD.right;
  const innerH = H - PAD.top - PAD.bottom;
  const step = innerW / Math.max(1, points.length);
  const x = (i) => PAD.left + step * (i + 0.5);
  const yMoney = (v) => PAD.top + innerH * (1 - v / topMoney);
  const yCount = (v) => PAD.top + innerH * (1 - v / topCount);

  const root = svg("svg", {
    viewBox: "0 0 " + W + " " + H,
    class: "chart",
    role: "img",
    "aria-label": _("Earnings and conversions"),
  });
  for (const share of [0, 0.5, 1]) {
    const y = PAD.top + innerH * (1 - share);
    root.append(svg("line", { x1: PAD.left, x2: W - PAD.right, y1: y, y2: y, class: "grid" }));
    root.append(svg("text", { x: PAD.left - 4, y: y + 3, class: "axis money", "text-anchor": "end" }, money(topMoney * share, chart.currency, lang, topMoney)));
    if (Number.isInteger(topCount * share)) {
      root.append(svg("text", { x: W - PAD.right + 4, y: y + 3, class: "axis count" }, number(topCount * share)));
    }
  }
  const barWidth = Math.max(1.5, step * 0.4);
  conversions.forEach((value, i) => {
    if (value > 0) {
      const top = yCount(value);
      root.append(svg("rect", { x: x(i) - barWidth / 2, y: top, width: barWidth, height: PAD.top + innerH - top, class: "bar-conv", rx: 1.5 }));
    }
  });
  const line = earnings.map((v, i) => (i ? "L" : "M") + x(i).toFixed(1) + " " + yMoney(v).toFixed(1)).join(" ");
  if (points.length) {
    const base = (PAD.top + innerH).toFixed(1);
    const area = line + " L" + x(points.length - 1).toFixed(1) + " " + base + " L" + x(0).toFixed(1) + " " + base + " Z";
    root.append(svg("path", { d: area, class: "area-money" }));
    root.append(svg("path", { d: line, class: "line-money" }));
  }
  const every = Math.max(1, Math.ceil(points.length / MAX_LABELS));
  points.forEach((p, i) => {
    if (i % every === 0) {
      root.append(svg("text", { x: x(i), y: H - 8, class: "axis", "text-anchor": "middle" }, p.label));
    }
  });
  return root;
}
