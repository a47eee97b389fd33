/**
 * `date.toISOString()`, the same string for every call within one millisecond: commands that share
 * a millisecond (many do, under load) share one time string in their events' metadata and in the
 * read model instead of keeping 40 bytes each, and skip the formatting (about 0.7 µs).
 */
let lastTime = Number.NaN;
let lastText = '';

export const isoTimeOf = (date: Date): string => {
  const time = date.getTime();
  if (time === lastTime) return lastText;
  const text = date.toISOString();
  lastTime = time;
  lastText = text;
  return text;
};
