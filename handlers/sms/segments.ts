/** GSM 03.38 basic character set (one septet each). */
const GSM_BASIC = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\u001bÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
);
/** The extension table: an escape plus one septet each. */
const GSM_EXTENDED = new Set('^{}\\[~]|€\f');

/**
 * How many SMS segments a text takes, as operators bill it: GSM-7 when every character is in the
 * GSM alphabet (160 septets, or 153 per part once split), else UCS-2 (70 UTF-16 units, 67 per
 * part). SMS.ru and Twilio count the same way; the simulated client reports it.
 */
export const smsSegments = (text: string): number => {
  let septets = 0;
  let gsm = true;
  for (const ch of text) {
    if (GSM_BASIC.has(ch)) septets += 1;
    else if (GSM_EXTENDED.has(ch)) septets += 2;
    else {
      gsm = false;
      break;
    }
  }
  if (gsm) return septets <= 160 ? 1 : Math.ceil(septets / 153);
  const units = text.length;
  return units <= 70 ? 1 : Math.ceil(units / 67);
};
