/** `s` without trailing slashes, in linear time (`/\/+$/` backtracks quadratically on a long run of slashes). */
export const withoutTrailingSlashes = (s: string): string => {
  let end = s.length;
  while (end > 0 && s.charCodeAt(end - 1) === 47) end--;
  return s.slice(0, end);
};
