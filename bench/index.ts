/** The benchmark suites `npm run bench` (bench/main.ts) runs, in order. Add a suite by adding one line. */
import type { BenchSuite } from './harness.js';
import { skeletonSuite } from './skeleton.js';
import { dspSuite } from './dsp.js';
import { trainSuite } from './train.js';
import { lossesSuite } from './losses.js';
import { trainNetsSuite } from './train-nets.js';
import { datasetsSuite } from './datasets.js';
import { firmwareSuite } from './firmware.js';
import { trainPipelineSuite } from './train-pipeline.js';
import { packageSuite } from './package.js';
import { exportSuite } from './export.js';
import { deploySuite } from './deploy.js';
import { deployPiSuite } from './deploy-pi.js';
import { smoothingSuite } from './smoothing.js';
import { runtimeSuite } from './runtime.js';
import { scaleSuite } from './scale.js';

export const suites: BenchSuite[] = [
  skeletonSuite,
  dspSuite,
  trainSuite,
  trainNetsSuite,
  lossesSuite,
  datasetsSuite,
  firmwareSuite,
  exportSuite,
  runtimeSuite,
  deploySuite,
  deployPiSuite,
  packageSuite,
  scaleSuite,
];

/**
 * Suites too long for the default run (the LOSO methods comparison takes ~30 min; smoothing forms in the closed
 * loop several minutes): `npm run bench -- --only train-pipeline`.
 */
export const optionalSuites: BenchSuite[] = [trainPipelineSuite, smoothingSuite];
