// A hand-written SVG bar chart of one bench run: per row, Warden's req/s next to the raw node:crypto
// async rate, on a log scale (the rows span 100 to 100,000 operations/s). No dependency.

export interface ChartRow {
  name: string;
  rps: number;
  raw: number | null;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const fmt = (n: number) => (n >= 10000 ? `${(n / 1000).toFixed(0)}k` : n >= 1000 ? `${(n / 1000).toFixed(1)}k` : n.toFixed(0));

export function barChart(title: string, subtitle: string, rows: ChartRow[]): string {
  // ~6.6 px per character at 12 px Helvetica: the longest label sets the left margin.
  const labelW = Math.max(200, Math.ceil(Math.max(...rows.map((r) => r.name.length)) * 6.6) + 16);
  const plotW = 520;
  const rowH = 30;
  const top = 70;
  const height = top + rows.length * rowH + 50;
  const width = labelW + plotW + 90;
  const max = Math.max(10, ...rows.flatMap((r) => [r.rps, r.raw ?? 0]));
  const lo = 1;
  const hi = Math.ceil(Math.log10(max));
  const x = (v: number) => labelW + (Math.max(0, Math.log10(Math.max(v, 10)) - lo) / (hi - lo)) * plotW;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  parts.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  parts.push(`<text x="12" y="22" font-size="15" font-weight="bold">${esc(title)}</text>`);
  parts.push(`<text x="12" y="40" fill="#555">${esc(subtitle)}</text>`);
  // Grid: one line per power of ten.
  for (let p = lo; p <= hi; p++) {
    const gx = x(10 ** p);
    parts.push(`<line x1="${gx.toFixed(1)}" y1="${top - 8}" x2="${gx.toFixed(1)}" y2="${top + rows.length * rowH}" stroke="#ddd"/>`);
    parts.push(`<text x="${gx.toFixed(1)}" y="${top + rows.length * rowH + 16}" text-anchor="middle" fill="#555">${fmt(10 ** p)}/s</text>`);
  }
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    parts.push(`<text x="${labelW - 8}" y="${y + 15}" text-anchor="end">${esc(r.name)}</text>`);
    const w = Math.max(1, x(r.rps) - labelW);
    parts.push(`<rect x="${labelW}" y="${y + 3}" width="${w.toFixed(1)}" height="11" fill="#2b6cb0"><title>${esc(`${r.name}: ${r.rps.toFixed(0)} req/s through Warden`)}</title></rect>`);
    parts.push(`<text x="${(labelW + w + 4).toFixed(1)}" y="${y + 12}" fill="#2b6cb0">${fmt(r.rps)}</text>`);
    if (r.raw !== null) {
      const rw = Math.max(1, x(r.raw) - labelW);
      parts.push(`<rect x="${labelW}" y="${y + 15}" width="${rw.toFixed(1)}" height="8" fill="#a0aec0"><title>${esc(`raw node:crypto async: ${r.raw.toFixed(0)} ops/s`)}</title></rect>`);
      parts.push(`<text x="${(labelW + rw + 4).toFixed(1)}" y="${y + 23}" fill="#718096" font-size="10">${fmt(r.raw)} raw</text>`);
    }
  });
  const ly = top + rows.length * rowH + 34;
  parts.push(`<rect x="${labelW}" y="${ly - 9}" width="14" height="10" fill="#2b6cb0"/><text x="${labelW + 20}" y="${ly}">through Warden (req/s)</text>`);
  parts.push(`<rect x="${labelW + 190}" y="${ly - 9}" width="14" height="10" fill="#a0aec0"/><text x="${labelW + 210}" y="${ly}">raw node:crypto, async, all cores (ops/s)</text>`);
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
