/** Rendering of the page: current emotion, probability bars, the chart over time, signal quality, batteries, mode. */
import type { BatteryView, ModelSummary, ModeView, PredictionView } from '../protocol.js';

const COLOURS = ['#457b9d', '#e76f51', '#8d5fd3', '#2a9d8f', '#e9c46a', '#f4a261', '#264653', '#d62828'];
const HISTORY = 90;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const num = (x: number) => String(Number(x.toPrecision(3)));
const seconds = (s: number) => (s >= 120 && s % 60 === 0 ? `${s / 60} min` : `${num(s)} s`);
const hours = (h: number) => (h >= 1 ? `${num(h)} h` : `${Math.max(1, Math.round(h * 60))} min`);

/** "30 %/h, about 2.5 h left" (or why it is not known yet). */
function drainText(b: BatteryView): string {
  if (b.charging === true) return 'charging';
  if (b.drainPerHour === null) return 'drain not measured yet';
  if (b.drainPerHour <= 0) return 'not draining';
  return `draining ${num(b.drainPerHour)} %/h${b.hoursToEmpty !== null ? `, about ${hours(b.hoursToEmpty)} left` : ''}`;
}

/** What a mode does in the app, in words. */
function modeDoes(m: ModeView): string {
  if (m.paused)
    return m.headbandBattery
      ? `classification paused; battery watch only (the headband streams a short burst every ${seconds(m.strideSec)} to report its battery)`
      : 'classification paused; the headband, which reports no battery, stays halted (only the phone battery is watched)';
  const parts = [`classifies a ${num(m.windowSec)}-s window every ${seconds(m.strideSec)}`];
  if (m.dutyCycle) parts.push('headband halted in between');
  if (m.preset) parts.push(`preset ${m.preset}`);
  parts.push(`model ${m.variant}${m.variantNote ? ' (the only one the app ships)' : ''}`);
  return parts.join(' · ');
}

const LOG_LENGTH = 20;

export class View {
  private classes: string[] = [];
  private history: PredictionView[] = [];
  private count = 0;
  private modeT0: number | null = null;

  setModel(m: ModelSummary, engine: string): void {
    this.classes = m.classes;
    $('model').textContent =
      `${m.arch} model · ${m.classes.join(', ')} · ${m.sites.length} electrodes (${m.sites.join(', ')})${m.device ? ` on ${m.device}` : ''} · ${m.windowSec}-s windows`;
    $('engine').textContent = `${engine}, ${m.variant}`;
    $('legend').innerHTML = '';
    m.classes.forEach((c, i) => {
      const s = document.createElement('span');
      s.innerHTML = `<i style="background:${COLOURS[i % COLOURS.length]}"></i>`;
      s.append(c);
      $('legend').append(s);
    });
    $('bars').innerHTML = '';
    m.classes.forEach((c, i) => {
      const row = document.createElement('div');
      row.className = 'bar';
      row.innerHTML = `<span></span><span class="track"><span class="fill" style="width:0;background:${COLOURS[i % COLOURS.length]}"></span></span><span class="value">—</span>`;
      row.firstElementChild!.textContent = c;
      $('bars').append(row);
    });
    this.drawChart();
  }

  status(text: string, state: 'loading' | 'ready' | 'running' | 'stopped' | 'error'): void {
    const s = $('status');
    s.textContent = text;
    s.dataset.state = state;
  }

  reset(): void {
    this.history = [];
    this.count = 0;
    $('current').textContent = '—';
    $('current').dataset.count = '0';
    $('truth').textContent = '';
    $('mode-log').innerHTML = '';
    this.modeT0 = null;
    this.drawChart();
  }

  prediction(p: PredictionView): void {
    this.history.push(p);
    if (this.history.length > HISTORY) this.history.shift();
    if (p.probabilities) {
      this.count++;
      const cur = $('current');
      cur.textContent = p.predicted ?? '—';
      cur.dataset.count = String(this.count);
      [...$('bars').children].forEach((row, i) => {
        const v = p.probabilities![i] ?? 0;
        (row.querySelector('.fill') as HTMLElement).style.width = `${(v * 100).toFixed(1)}%`;
        row.querySelector('.value')!.textContent = `${Math.round(v * 100)} %`;
      });
    } else {
      $('current').textContent = p.skipped === 'gap' ? 'signal lost' : 'poor signal';
    }
    $('truth').textContent = p.truth ? `virtual wearer: ${p.truth}` : '';
    if (p.quality) this.quality(p.quality);
    this.drawChart();
  }

  private quality(q: NonNullable<PredictionView['quality']>): void {
    const ul = $('quality');
    ul.innerHTML = '';
    for (const c of q) {
      const li = document.createElement('li');
      li.className = `channel${c.good ? '' : ' poor'}`;
      li.dataset.site = c.site;
      li.dataset.good = String(c.good);
      const b = document.createElement('b');
      b.textContent = c.site;
      li.append(b, c.good ? `good · ${c.std.toFixed(1)} µV` : `${c.problem ?? 'poor'} · ${c.std.toFixed(1)} µV`);
      ul.append(li);
    }
  }

  battery(which: 'headband' | 'phone', percent: number | null, charging: boolean | null = null): void {
    $(`${which}-battery`).textContent = percent === null ? 'unknown' : `${Math.round(percent)} %${charging ? ' (charging)' : ''}`;
  }

  /** The run's estimate for a battery source: drain rate and time to empty. */
  drain(which: 'headband' | 'phone', b: BatteryView): void {
    $(`${which}-drain`).textContent = b.charging === true ? '' : drainText(b);
  }

  /** A mode change (the first of a run has from = null): the mode, what it does, why, and the estimate that decided. */
  mode(m: ModeView): void {
    const el = $('mode');
    el.dataset.mode = m.to;
    el.innerHTML = '';
    const b = document.createElement('b');
    b.textContent = m.to;
    const why = document.createElement('small');
    const est = m.estimate.filter((e) => e.percent !== null).map((e) => `${e.source} ${num(e.percent!)} %, ${drainText(e)}`);
    why.textContent = `${m.reason}${est.length ? ` — ${est.join('; ')}` : ''}`;
    el.append(b, ` — ${modeDoes(m)}`, why);
    this.modeT0 ??= m.t;
    const li = document.createElement('li');
    li.dataset.from = m.from ?? '';
    li.dataset.to = m.to;
    li.textContent = `${Math.round((m.t - this.modeT0) / 1000)} s: ${m.from ?? 'start'} → ${m.to} (${m.reason})`;
    const log = $('mode-log');
    log.append(li);
    while (log.children.length > LOG_LENGTH) log.firstElementChild!.remove();
  }

  offline(text: string): void {
    $('offline').textContent = text;
  }

  private drawChart(): void {
    const canvas = $<HTMLCanvasElement>('chart');
    const dpr = Math.min(window.devicePixelRatio || 1, 3);
    const w = canvas.clientWidth || 640;
    const h = Math.round(w * 0.32);
    if (canvas.width !== Math.round(w * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    const g = canvas.getContext('2d');
    if (!g) return;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const pad = { l: 30, r: 6, t: 6, b: 18 };
    const pw = w - pad.l - pad.r;
    const ph = h - pad.t - pad.b;
    g.font = '11px system-ui, sans-serif';
    g.fillStyle = '#667085';
    g.strokeStyle = '#eaecf0';
    g.lineWidth = 1;
    for (const v of [0, 0.5, 1]) {
      const y = pad.t + ph * (1 - v);
      g.beginPath();
      g.moveTo(pad.l, y);
      g.lineTo(w - pad.r, y);
      g.stroke();
      g.fillText(v.toFixed(1), 4, y + 4);
    }
    const pts = this.history;
    if (pts.length === 0) return;
    const t1 = pts[pts.length - 1]!.t;
    const t0 = Math.min(pts[0]!.t, t1 - 1);
    const x = (t: number) => pad.l + ((t - t0) / (t1 - t0)) * pw;
    g.fillText(`${Math.round(t1 - t0)} s`, pad.l, h - 4);
    // Skipped windows: a grey band.
    g.fillStyle = 'rgba(102,112,133,0.15)';
    for (const p of pts) if (!p.probabilities) g.fillRect(x(p.t) - 2, pad.t, 4, ph);
    this.classes.forEach((_, c) => {
      g.strokeStyle = COLOURS[c % COLOURS.length]!;
      g.lineWidth = 2;
      g.beginPath();
      let pen = false;
      for (const p of pts) {
        if (!p.probabilities) {
          pen = false;
          continue;
        }
        const y = pad.t + ph * (1 - (p.probabilities[c] ?? 0));
        if (pen) g.lineTo(x(p.t), y);
        else g.moveTo(x(p.t), y);
        pen = true;
      }
      g.stroke();
    });
  }
}
