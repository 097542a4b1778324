/**
 * What `cmcrd run` and `cmcrd calibrate` share before they stream: how `--device` is resolved (the allow-list file
 * and the radio a paired headband is reached through, both replaceable by tests) and the check that the device can
 * compute the model's features as training did (smoothing).
 */
import type { ResolveRunDeviceOptions } from '../../runtime/run/device.node.js';
import {
  checkLiveSmoothing,
  OfflineSmoothingError,
  type LiveSmoothingCheck,
  type SmoothingCardFields,
} from '../../runtime/smoothing-guard.js';
import { CliError } from './errors.js';

/** What tests (and embedders) may replace: where the allow-list is and how a paired headband's radio is made. */
export interface DeviceDeps {
  allowListPath?: string;
  transport?: ResolveRunDeviceOptions['transport'];
}

export function deviceOptions(startMs: number, preset: string | undefined, deps: DeviceDeps): ResolveRunDeviceOptions {
  return {
    startMs,
    ...(preset !== undefined ? { preset } : {}),
    ...(deps.allowListPath !== undefined ? { allowListPath: deps.allowListPath } : {}),
    ...(deps.transport ? { transport: deps.transport } : {}),
  };
}

/**
 * The model's smoothing against what a live stream can compute (runtime/smoothing-guard.ts): a form that needs the
 * whole trial is refused with the reason and the retraining command, unless --allow-offline-smoothing.
 */
export function liveSmoothing(card: SmoothingCardFields, model: string, allowOffline: boolean | undefined): LiveSmoothingCheck {
  try {
    return checkLiveSmoothing(card, { allowOffline: allowOffline === true });
  } catch (e) {
    if (e instanceof OfflineSmoothingError) throw new CliError(`${model}: ${e.message}`);
    throw e;
  }
}
