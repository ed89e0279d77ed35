/** NATS subject filter matching: tokens split on '.', '*' matches one token, '>' one or more. */
const TOKEN = /^[^.*>\s]+$/;

export const validateFilter = (filter: string): void => {
  const tokens = filter.split('.');
  tokens.forEach((t, i) => {
    if (t === '>' && i === tokens.length - 1) return;
    if (t === '*' || TOKEN.test(t)) return;
    throw new RangeError(`invalid subject filter "${filter}" at token ${i + 1}`);
  });
};

export const validateSubject = (subject: string): void => {
  if (!subject.split('.').every((t) => TOKEN.test(t))) {
    throw new RangeError(`invalid subject "${subject}": tokens must be non-empty without '*', '>' or spaces`);
  }
};

export const subjectMatches = (filter: string, subject: string): boolean => {
  const f = filter.split('.');
  const s = subject.split('.');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '>') return s.length > i;
    if (i >= s.length) return false;
    if (f[i] !== '*' && f[i] !== s[i]) return false;
  }
  return f.length === s.length;
};

/** The same filter as a POSIX regular expression for Postgres `~`. */
export const filterToRegex = (filter: string): string => {
  const parts = filter.split('.').map((t) => {
    if (t === '*') return '[^.]+';
    if (t === '>') return '.+';
    return t.replace(/[\\^$.|?*+()[\]{}-]/g, '\\$&');
  });
  return `^${parts.join('\\.')}$`;
};
