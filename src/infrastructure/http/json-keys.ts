const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;

/**
 * The member names of a JSON text's top-level object that occur more than once, each once, in
 * the order of their second occurrence, decoded (`"\u0068ost"` is `host`, as Go's protojson reads
 * it). JSON.parse keeps the last of them and says nothing; protojson refuses a field given twice.
 *
 * `text` must be JSON that JSON.parse has accepted, whose top level is an object: the scan relies
 * on it being well-formed (a string ends at the first quote not escaped; outside strings only
 * brackets and commas matter). Names inside nested objects and arrays are not looked at: no SMTP
 * request message has a field that is a message, and protojson skips an unknown field's value
 * without looking for duplicates in it. One pass (strings skipped with indexOf), no allocation but for names that have escapes.
 */
export const repeatedTopLevelKeys = (text: string): string[] => {
  const seen = new Set<string>();
  let repeated: string[] | undefined;
  let depth = 0;
  let topIsObject = false;
  let expectKey = false;
  const end = text.length;
  let backslash = text.indexOf('\\');
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const open = i;
      i = text.indexOf('"', open + 1);
      if (i < 0) break; // not JSON after all: never loop on it
      // The next backslash, found again only once the scan has passed it (a text without one is read once).
      if (backslash >= 0 && backslash < open) backslash = text.indexOf('\\', open + 1);
      const escaped = backslash >= 0 && backslash < i;
      if (escaped) {
        // A quote after a backslash may be escaped: walk the string from its first backslash.
        for (i = backslash; i < end; i++) {
          const d = text.charCodeAt(i);
          if (d === QUOTE) break;
          if (d === BACKSLASH) i++; // the escaped character, which may be a quote
        }
        if (i >= end) break;
      }
      if (expectKey) {
        const name = escaped ? (JSON.parse(text.slice(open, i + 1)) as string) : text.slice(open + 1, i);
        if (!seen.has(name)) seen.add(name);
        else if (!(repeated ??= []).includes(name)) repeated.push(name);
        expectKey = false;
      }
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      depth++;
      if (depth === 1) topIsObject = c === OPEN_BRACE;
      expectKey = depth === 1 && topIsObject;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
    } else if (c === COMMA) {
      expectKey = depth === 1 && topIsObject;
    }
  }
  return repeated ?? [];
};
