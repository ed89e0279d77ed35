/**
 * The e-mail channel's slice of the configuration: `loadConfig` reads and checks the MAIL_*
 * variables at start-up with every other variable, so an API-only process refuses a bad setup too.
 */
export type { MailConfig } from '../../core/config.js';
