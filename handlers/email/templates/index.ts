import type { EmailTemplateId } from '../../../schemas/emailTemplates.js';
import { applicationAssigned } from './applicationAssigned.js';
import { driverAlert } from './driverAlert.js';
import { passwordReset } from './passwordReset.js';
import { paymentReceipt } from './paymentReceipt.js';
import type { EmailTemplate } from './types.js';
import { userRegistration } from './userRegistration.js';

/** Every template by name; `schemas/emailTemplates.ts` holds the variables each needs. */
export const TEMPLATES: Record<EmailTemplateId, EmailTemplate> = {
  user_registration: userRegistration,
  password_reset: passwordReset,
  application_assigned: applicationAssigned,
  payment_receipt: paymentReceipt,
  driver_alert: driverAlert,
};
