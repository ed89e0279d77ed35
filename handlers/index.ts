import type { Config } from '../core/config.js';
import type { Handler } from '../core/runners/handlerRunner.js';

/** Every handler the `handlers` role runs, built from config (providers, test mode). */
export const buildHandlers = (_config: Config): readonly Handler[] => [];
