/** The sweep plan and the queue URL: job ids from the run's identity, one teacher flow per fold × seed × teacher net. */
import { describe, expect, it } from 'vitest';
import { planSweep, specFlags, sweepId, type PlanCell, type SweepSpec } from '../../../src/scale/plan.js';
import { parseQueueUrl } from '../../../src/scale/queue-url.js';

const spec = (flags: Record<string, unknown> = {}, teacher: string | null = null): SweepSpec => ({
  version: '1.2.3',
  flags: specFlags({
    dataset: 'synthetic',
    root: 'data',
    protocol: 'loso',
    seeds: [1, 2],
    epochs: 3,
    out: 'x',
    resume: true,
    jobs: 1,
    queue: 'redis://h',
    ...flags,
  }),
  backend: 'wasm',
  fingerprint: '0123456789abcdef',
  teacher,
});
const cell = (method: PlanCell['method'], arch: PlanCell['arch'], skip: string[] = []): PlanCell => ({
  method,
  arch,
  checkpoint: true,
  skip: new Set(skip),
});
const job = { attempts: 3, backoffMs: 10 };

describe('sweep plan', () => {
  it('keeps what defines the runs (root made absolute), drops output and local options', () => {
    const f = spec().flags;
    expect(f).toMatchObject({ dataset: 'synthetic', protocol: 'loso', seeds: [1, 2], epochs: 3 });
    expect(String(f.root)).toMatch(/^\/.*\/data$/);
    for (const k of ['out', 'resume', 'jobs', 'queue']) expect(f).not.toHaveProperty(k);
  });

  it('names the sweep by its settings but not its seeds, folds or data path, and the version counts', () => {
    const a = sweepId(spec());
    expect(a).toMatch(/^[0-9a-f]{16}$/);
    expect(sweepId(spec({ seeds: [1, 2, 3], folds: ['s1'], root: 'elsewhere' }))).toBe(a);
    expect(sweepId(spec({ epochs: 4 }))).not.toBe(a);
    expect(sweepId({ ...spec(), version: '1.2.4' })).not.toBe(a);
    expect(sweepId({ ...spec(), fingerprint: 'ffffffffffffffff' })).not.toBe(a);
  });

  it('one gate × teacher per fold × seed × teacher network; students that need none are plain jobs; kept runs are skipped', () => {
    const s = spec();
    const { students, gates } = planSweep(
      s,
      'abc',
      [cell('kd', 'mlp', ['s1#1']), cell('cmcrd', 'mlp'), cell('eeg-only', 'mlp'), cell('kd', 'dgcnn')],
      ['s1', 's2'],
      [1, 2],
      job,
    );
    expect(students).toHaveLength(4 * 4 - 1);
    expect(students.map((u) => u.id)).toContain('abc.s.kd.dgcnn.s2.2');
    expect(students.map((u) => u.id)).not.toContain('abc.s.kd.mlp.s1.1');
    expect(students.filter((u) => u.data.method === 'eeg-only').every((u) => u.gate === null && u.data.teacher === null)).toBe(true);
    // mlp and dgcnn students have their own teachers (teacher arch = student arch by default): 2 × 2 × 2.
    expect([...gates.keys()].sort()).toEqual(
      ['dgcnn', 'mlp'].flatMap((a) => ['s1', 's2'].flatMap((f) => [1, 2].map((seed) => `abc.g.${a}.${f}.${seed}`))).sort(),
    );
    const g = gates.get('abc.g.mlp.s1.1')!;
    expect(g.teacherId).toBe('abc.t.mlp.s1.1');
    expect(g.data.students.map((x) => x.id)).toEqual(['abc.s.cmcrd.mlp.s1.1']);
    expect(gates.get('abc.g.mlp.s2.1')!.data.students.map((x) => x.id)).toEqual(['abc.s.kd.mlp.s2.1', 'abc.s.cmcrd.mlp.s2.1']);
    expect(g.data).toMatchObject({ attempts: 3, backoffMs: 10, v: '1.2.3' });
    // Planning twice gives the same ids.
    expect(planSweep(s, 'abc', [cell('kd', 'dgcnn')], ['s1', 's2'], [1, 2], job).students.map((u) => u.id)).toEqual(
      students.filter((u) => u.data.arch === 'dgcnn').map((u) => u.id),
    );
  });

  it('--teacher-arch shares one teacher between networks; a supplied teacher needs no teacher jobs; ids have no ":"', () => {
    const shared = planSweep(spec({ teacherArch: 'mlp' }), 'abc', [cell('kd', 'mlp'), cell('kd', 'dgcnn')], ['s:1'], [1], job);
    expect([...shared.gates.keys()]).toEqual(['abc.g.mlp.s%3A1.1']);
    expect(shared.students.every((u) => !u.id.includes(':'))).toBe(true);
    const supplied = planSweep(spec({}, '{}'), 'abc', [cell('kd', 'mlp')], ['s1'], [1], job);
    expect(supplied.gates.size).toBe(0);
    expect(supplied.students[0]!.data.teacher).toBeNull();
  });
});

describe('--queue URL', () => {
  it('reads host, port, db, TLS, queue name, attempts and backoff; credentials from the URL or the environment', () => {
    expect(parseQueueUrl('redis://h')).toMatchObject({
      host: 'h',
      port: 6379,
      db: 0,
      tls: false,
      queueName: 'cmcrd',
      attempts: 3,
      backoffMs: 5000,
    });
    expect(parseQueueUrl('rediss://u:p%40ss@h:7000/2?queue=lab&attempts=5&backoff=100')).toMatchObject({
      port: 7000,
      db: 2,
      tls: true,
      username: 'u',
      password: 'p@ss',
      queueName: 'lab',
      attempts: 5,
      backoffMs: 100,
    });
    expect(parseQueueUrl('redis://:secret@h').display).not.toContain('secret');
    expect(parseQueueUrl('redis://h', { CMCRD_REDIS_PASSWORD: 'pw' })).toMatchObject({ password: 'pw' });
    expect(() => parseQueueUrl('http://h')).toThrow(/scheme must be redis:\/\/ or rediss:\/\//);
    expect(() => parseQueueUrl('redis://h/16')).toThrow(/database must be an integer 0–15, got "16"/);
    expect(() => parseQueueUrl('redis://h?attempts=0')).toThrow(/attempts must be an integer ≥ 1, got "0"/);
    expect(() => parseQueueUrl('redis://h?queue=a:b')).toThrow(/queue name/);
    expect(() => parseQueueUrl('redis://h?bogus=1')).toThrow(/unknown parameter "bogus"/);
  });
});
