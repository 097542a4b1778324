/**
 * A sweep on the queue: what the coordinator and the workers agree on. The sweep's spec (the experiment options,
 * the toolkit version, the tfjs backend, the data's fingerprint, a supplied teacher) is stored once in Redis under
 * a key named by its hash; every job names the sweep and its own unit of work. Job ids are made from the sweep id
 * and the unit (fold, seed, method, network), so enqueuing the same run again finds the same jobs: that is what
 * makes `--resume` work across restarts of the coordinator and of the workers.
 *
 * Flow structure (BullMQ lets a job have one parent only, and a teacher is shared by several students):
 *   gate(fold, seed, teacher net)          parent; when it runs it adds the student jobs it lists
 *     └─ teacher(fold, seed, teacher net)  child; trains the teacher once, returns its checkpoint (small)
 *   student(fold, seed, method, net)       added by the gate; reads the teacher's result by the teacher job's id
 * Students that use no teacher (eeg-only, fusion, or all of them with --teacher) are plain jobs added directly.
 */
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { Command } from 'commander';
import type { MethodName } from '../train/methods/index.js';
import type { ArchName } from '../train/nets/index.js';
import type { Direction, ExperimentResult, FoldRecord } from '../train/run.js';
import { usesTeacher } from '../train/run.js';
import { addExperimentOptions } from '../cli/experiment-options.js';

/** Options a worker does not need (output, local parallelism) or gets another way (--teacher: its content). */
const SPEC_DROPPED: ReadonlySet<string> = new Set(['out', 'resume', 'jobs', 'json', 'queue', 'teacherCache', 'teacher']);

/** The experiment flags a worker rebuilds the run from (commander's keys; `root` made absolute). */
export type SpecFlags = Record<string, string | number | boolean | string[] | number[]>;

export interface SweepSpec {
  version: string;
  flags: SpecFlags;
  /** The tfjs backend the coordinator assembles with: a worker must train on the same one (results differ by backend). */
  backend: string;
  /** datasetFingerprint of the loaded data: a worker whose copy differs refuses the jobs. */
  fingerprint: string;
  /** A supplied --teacher checkpoint (its JSON text), or null. */
  teacher: string | null;
}

/** The experiment options of `raw` that define the runs (every option addExperimentOptions declares, less SPEC_DROPPED). */
export function specFlags(raw: Record<string, unknown>): SpecFlags {
  const keys = addExperimentOptions(new Command()).options.map((o) => o.attributeName());
  const out: SpecFlags = {};
  for (const k of keys) {
    const v = raw[k];
    if (SPEC_DROPPED.has(k) || v === undefined) continue;
    out[k] = (k === 'root' ? resolve(String(v)) : v) as SpecFlags[string];
  }
  return out;
}

/** 16 hex digits naming the sweep: everything in the spec but the seeds and folds (a resumed run may add some). */
export function sweepId(spec: SweepSpec): string {
  const { seeds: _s, folds: _f, root: _r, ...flags } = spec.flags;
  const body = JSON.stringify({
    ...spec,
    flags: Object.keys(flags)
      .sort()
      .map((k) => [k, flags[k]]),
  });
  return createHash('sha256').update(body).digest('hex').slice(0, 16);
}

/** Job ids may not contain ':' (BullMQ's key separator); fold ids are user data. */
const part = (s: string | number) => encodeURIComponent(String(s)).replace(/\./g, '%2E');

export const teacherJobId = (sweep: string, arch: string, fold: string, seed: number) => `${sweep}.t.${part(arch)}.${part(fold)}.${seed}`;
export const gateJobId = (sweep: string, arch: string, fold: string, seed: number) => `${sweep}.g.${part(arch)}.${part(fold)}.${seed}`;
export const studentJobId = (sweep: string, method: string, arch: string, fold: string, seed: number) =>
  `${sweep}.s.${part(method)}.${part(arch)}.${part(fold)}.${seed}`;
export const specKey = (queueName: string, sweep: string) => `cmcrd-sweep:${queueName}:${sweep}`;

/** The method whose own result is the teacher's (its modality's "-only" row): what a teacher job runs. */
export const teacherMethod = (direction: Direction): MethodName => (direction === 'eye-to-eeg' ? 'eye-only' : 'eeg-only');

export interface StudentJobData {
  v: string;
  sweep: string;
  kind: 'student';
  fold: string;
  seed: number;
  method: MethodName;
  arch: ArchName;
  /** The teacher job whose result this student distils from (null: no teacher, or the supplied one). */
  teacher: string | null;
  /** Return the student checkpoint in the result. */
  checkpoint: boolean;
  /** Set by a worker that refused the job (wrong version, other data, other backend), for the coordinator to show. */
  refused?: string;
}
export interface TeacherJobData {
  v: string;
  sweep: string;
  kind: 'teacher';
  fold: string;
  seed: number;
  arch: ArchName;
  refused?: string;
}
export interface GateJobData {
  v: string;
  sweep: string;
  kind: 'gate';
  fold: string;
  seed: number;
  arch: ArchName;
  students: Array<{ id: string; data: StudentJobData }>;
  attempts: number;
  backoffMs: number;
  refused?: string;
}
export type JobData = StudentJobData | TeacherJobData | GateJobData;

export interface TeacherResult {
  /** The file name a local run would cache it under, and its checkpoint JSON. */
  file: string;
  text: string;
  accuracy: number;
  worker: string;
  seconds: number;
}
export interface StudentResult {
  config: ExperimentResult['config'];
  record: FoldRecord;
  transductiveSubjects: string[];
  checkpoint: { file: string; text: string } | null;
  /** How the student got its teacher: memory (the teacher job's result), trained (here: the teacher job was gone), supplied, or null. */
  teacherSource: string | null;
  worker: string;
}

/** One planned student run. */
export interface StudentUnit {
  id: string;
  cell: number;
  data: StudentJobData;
  /** Its gate and teacher jobs, when it distils from a trained teacher. */
  gate: string | null;
}
export interface GateUnit {
  id: string;
  teacherId: string;
  data: GateJobData;
  teacher: TeacherJobData;
}

export interface PlanCell {
  method: MethodName;
  arch: ArchName;
  checkpoint: boolean;
  /** fold#seed keys already finished (kept from --resume): not enqueued. */
  skip: ReadonlySet<string>;
}

export const runKey = (fold: string, seed: number) => `${fold}#${seed}`;

/** Every student job of the sweep, and the gate × teacher flows they wait for. */
export function planSweep(
  spec: SweepSpec,
  sweep: string,
  cells: readonly PlanCell[],
  folds: readonly string[],
  seeds: readonly number[],
  job: { attempts: number; backoffMs: number },
): { students: StudentUnit[]; gates: Map<string, GateUnit> } {
  const direction = (spec.flags.direction as Direction | undefined) ?? 'eye-to-eeg';
  const teacherArchFlag = spec.flags.teacherArch as ArchName | undefined;
  const students: StudentUnit[] = [];
  const gates = new Map<string, GateUnit>();
  const v = spec.version;
  cells.forEach((c, cell) => {
    const needs = spec.teacher === null && usesTeacher(c.method, direction) !== 'none';
    const tArch = teacherArchFlag ?? c.arch;
    for (const fold of folds) {
      for (const seed of seeds) {
        if (c.skip.has(runKey(fold, seed))) continue;
        const id = studentJobId(sweep, c.method, c.arch, fold, seed);
        const teacherId = needs ? teacherJobId(sweep, tArch, fold, seed) : null;
        const data: StudentJobData = {
          v,
          sweep,
          kind: 'student',
          fold,
          seed,
          method: c.method,
          arch: c.arch,
          teacher: teacherId,
          checkpoint: c.checkpoint,
        };
        let gate: string | null = null;
        if (teacherId) {
          gate = gateJobId(sweep, tArch, fold, seed);
          let g = gates.get(gate);
          if (!g) {
            g = {
              id: gate,
              teacherId,
              data: { v, sweep, kind: 'gate', fold, seed, arch: tArch, students: [], attempts: job.attempts, backoffMs: job.backoffMs },
              teacher: { v, sweep, kind: 'teacher', fold, seed, arch: tArch },
            };
            gates.set(gate, g);
          }
          g.data.students.push({ id, data });
        }
        students.push({ id, cell, data, gate });
      }
    }
  });
  return { students, gates };
}
