// SVG charts for benchmark reports: grouped bars with error bars (the range
// over runs), no dependencies, readable in a browser or on a code host.

export interface Bar {
  group: string; // one cluster of bars on the x axis
  series: string; // one colour, one legend entry
  value: number;
  lo?: number;
  hi?: number;
}

const COLOURS = ["#3b6fb6", "#d9822b", "#4f9a55", "#b34a4a", "#7a5ba6", "#6b6b6b"];
const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** A nice upper bound for the axis: 1, 2 or 5 times a power of ten. */
function niceMax(x: number): number {
  if (!(x > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

export function barChart(title: string, unit: string, bars: Bar[]): string {
  const groups = [...new Set(bars.map((b) => b.group))];
  const series = [...new Set(bars.map((b) => b.series))];
  const W = Math.max(480, 80 + groups.length * (series.length * 28 + 24));
  const H = 300;
  const left = 64, right = 16, top = 40, bottom = 64;
  const plotH = H - top - bottom;
  const max = niceMax(Math.max(...bars.map((b) => Math.max(b.value, b.hi ?? 0))));
  const y = (v: number) => top + plotH - (Math.max(0, v) / max) * plotH;
  const groupW = (W - left - right) / groups.length;
  const barW = Math.min(28, (groupW - 16) / series.length);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${W / 2}" y="18" text-anchor="middle" font-size="13">${esc(title)}</text>`);
  for (let i = 0; i <= 5; i++) {
    const v = (max * i) / 5;
    out.push(`<line x1="${left}" x2="${W - right}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`);
    out.push(`<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${+v.toPrecision(3)}</text>`);
  }
  out.push(`<text transform="translate(14 ${top + plotH / 2}) rotate(-90)" text-anchor="middle">${esc(unit)}</text>`);
  groups.forEach((g, gi) => {
    const x0 = left + gi * groupW + (groupW - barW * series.length) / 2;
    series.forEach((s, si) => {
      const b = bars.find((r) => r.group === g && r.series === s);
      if (!b || !Number.isFinite(b.value)) return;
      const x = x0 + si * barW;
      out.push(`<rect x="${x + 1}" y="${y(b.value)}" width="${barW - 2}" height="${top + plotH - y(b.value)}" fill="${COLOURS[si % COLOURS.length]}"><title>${esc(`${s}, ${g}: ${b.value}`)}</title></rect>`);
      if (b.lo !== undefined && b.hi !== undefined && Number.isFinite(b.lo) && Number.isFinite(b.hi)) {
        const cx = x + barW / 2;
        out.push(`<path d="M${cx} ${y(b.lo)}V${y(b.hi)}M${cx - 4} ${y(b.lo)}h8M${cx - 4} ${y(b.hi)}h8" stroke="black" fill="none"/>`);
      }
    });
    out.push(`<text x="${left + gi * groupW + groupW / 2}" y="${top + plotH + 16}" text-anchor="middle">${esc(g)}</text>`);
  });
  series.forEach((s, si) => {
    const lx = left + si * 170;
    out.push(`<rect x="${lx}" y="${H - 22}" width="12" height="12" fill="${COLOURS[si % COLOURS.length]}"/><text x="${lx + 16}" y="${H - 12}">${esc(s)}</text>`);
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}
