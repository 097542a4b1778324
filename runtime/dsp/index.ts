/** Public API of runtime/dsp: EEG filtering, resampling, band features, smoothing, normalisation, quality. */
export { SEED_BANDS, type Band } from './bands.js';
export { butterSos, iirNotchSos, zpk2sos, type Sos, type ButterType, type ButterOptions } from './butter.js';
export { SosFilter, sosfilt, sosfiltZi, sosfiltfilt, detrend, type PadType } from './filter.js';
export { resamplePoly, StreamingResampler, firwinKaiser, resampleRatio, type ResampleRatio } from './resample.js';
export {
  seedBandEnergy,
  seedDE,
  defaultSeedNfft,
  seedTaper,
  seedBandBins,
  SeedSpectrum,
  realFft,
  type SeedSpectralOptions,
  type SeedWindow,
} from './seed-de.js';
export {
  WelchSpectrum,
  welchBandPowers,
  defaultWelchNperseg,
  nearestPowerOfTwo,
  gaussianEntropy,
  gaussianDE,
  bandFilterBank,
  type WelchOptions,
  type GaussDEOptions,
} from './spectral.js';
export {
  ldsSmooth,
  OnlineLDS,
  movingAverage,
  OnlineMovingAverage,
  SMOOTHING_FORMS,
  SMOOTHING_NAMES,
  smoothingForm,
  smoothingIsCausal,
  onlineSmoother,
  smoothTrial,
  type LdsOptions,
  type LdsInit,
  type OnlineLdsOptions,
  type OnlineSmoother,
  type MovingAverageMode,
  type SmoothingName,
  type SmoothingForm,
  type SmoothingOptions,
} from './smooth.js';
export {
  RunningStats,
  ZScoreNormalizer,
  CalibrationStore,
  type RunningStatsJSON,
  type ZScoreJSON,
  type CalibrationJSON,
} from './normalize.js';
export { channelQuality, type ChannelQuality, type QualityOptions } from './quality.js';
export {
  FeatureExtractor,
  extractFeatures,
  extractFeatureFrames,
  smoothFrames,
  FEATURE_METHODS,
  SMOOTH_METHODS,
  type FeatureMethod,
  type SmoothMethod,
  type FeatureExtractorOptions,
  type FeatureFrame,
  type ExtractOptions,
} from './extractor.js';
export { GapFiller } from './gap-fill.js';
