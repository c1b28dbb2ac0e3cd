/* Snowball English (Porter2) stemmer by hand, matching Python snowballstemmer 3.1.1 word for
   word so queries stem as the index did. Input: a lower-case [a-z]+ word (nothing else is
   supported). One global, govsiteStemEnglish. No eval, so it runs under default-src 'self'. */
(function () {
  'use strict';

  var own = Object.prototype.hasOwnProperty;

  // Whole words looked up before any rule; those mapping to themselves are shielded from the
  // rules (news, howe). dying/lying/tying are not here: Step 1b handles them.
  var EXCEPTIONS = {
    skis: 'ski', skies: 'sky', idly: 'idl', gently: 'gentl', ugly: 'ugli', early: 'earli',
    only: 'onli', singly: 'singl', sky: 'sky', news: 'news', howe: 'howe', atlas: 'atlas',
    cosmos: 'cosmos', bias: 'bias', andes: 'andes'
  };

  // An alternation anchored by $ finds the leftmost, hence longest, suffix, as Snowball's
  // "among" does; only that suffix is tried, never a shorter one.
  var STEP2 = {
    tional: 'tion', enci: 'ence', anci: 'ance', abli: 'able', entli: 'ent', izer: 'ize',
    ization: 'ize', ational: 'ate', ation: 'ate', ator: 'ate', alism: 'al', aliti: 'al',
    alli: 'al', fulness: 'ful', ousli: 'ous', ousness: 'ous', iveness: 'ive', iviti: 'ive',
    biliti: 'ble', bli: 'ble', fulli: 'ful', lessli: 'less', ogist: 'og', ogi: 'og', li: ''
  };
  var STEP3 = {
    tional: 'tion', ational: 'ate', alize: 'al', icate: 'ic', iciti: 'ic', ical: 'ic',
    ful: '', ness: '', ative: ''
  };
  var RE2 = suffixes(STEP2);
  var RE3 = suffixes(STEP3);
  var RE4 = /(al|ance|ence|er|ic|able|ible|ant|ement|ment|ent|ism|ate|iti|ous|ive|ize|ion)$/;

  function suffixes(table) {
    return new RegExp('(' + Object.keys(table).join('|') + ')$');
  }

  // Vowels: a e i o u y (Y, a y the prelude marked as consonant, is not one). Returns the
  // index after the first vowel + non-vowel pair from `from` on, else the length.
  function regionStart(s, from) {
    var m = /[aeiouy][^aeiouy]/.exec(s.slice(from));
    return m ? from + m.index + 2 : s.length;
  }

  // s ends in a short syllable: non-vowel, vowel, non-vowel but not w x Y; or the word is
  // vowel + non-vowel; or it ends in "past", so pasting -> paste.
  function endsShort(s) {
    return /[^aeiouy][aeiouy][^aeiouywxY]$|^[aeiouy][^aeiouy]$|past$/.test(s);
  }

  window.govsiteStemEnglish = function (word) {
    if (own.call(EXCEPTIONS, word)) return EXCEPTIONS[word];
    if (word.length < 3) return word;

    // Prelude: initial y and y after a vowel are consonants: mark them Y. Like Snowball's
    // left-to-right repeat, the global replace marks every other y of "sayyy".
    var s = word.replace(/^y/, 'Y').replace(/([aeiouy])y/g, '$1Y');

    // R1 starts after the first vowel + non-vowel, or after one of these prefixes (so
    // generous is not cut to gener); R2 applies the same rule again from R1.
    var m = /^(gener|commun|arsen|past|univers|later|emerg|organ|inter)/.exec(s);
    var p1 = m ? m[0].length : regionStart(s, 0);
    var p2 = regionStart(s, p1);
    var stem, suffix;

    function match(re) {
      m = re.exec(s);
      if (m) {
        suffix = m[1];
        stem = s.slice(0, m.index);
      }
      return m;
    }

    // Step 1a: ies/ied keep the e after at most one letter (ties -> tie, cries -> cri); s goes
    // if a vowel comes before the letter in front of it (gaps -> gap, gas stays).
    if (match(/(sses|ied|ies|ss|us|s)$/)) {
      if (suffix === 'sses') s = stem + 'ss';
      else if (suffix === 'ied' || suffix === 'ies') s = stem + (stem.length > 1 ? 'i' : 'ie');
      else if (suffix === 's' && /[aeiouy]/.test(s.slice(0, -2))) s = stem;
    }

    // Step 1b: eed(ly) -> ee in R1, but proceed, exceed, succeed stay; ed, edly, ing, ingly
    // go if a vowel precedes them, then the stem is tidied.
    if (match(/(eedly|eed|ingly|edly|ing|ed)$/)) {
      if (suffix === 'eed' || suffix === 'eedly') {
        if (m.index >= p1 && !/^(succ|proc|exc)$/.test(stem)) s = stem + 'ee';
      } else if (suffix === 'ing' && /^[^aeiouy]y$/.test(stem)) {
        s = stem.charAt(0) + 'ie'; // dying, lying, tying -> die, lie, tie
      } else if (suffix === 'ing' && /^(even|cann|inn|earr|herr|out)$/.test(stem)) {
        // evening, canning, inning, earring, herring, outing stay whole
      } else if (/[aeiouy]/.test(stem)) {
        s = stem;
        if (/(at|bl|iz)$/.test(s)) s += 'e'; // luxuriat(ed) -> luxuriate
        else if (/(bb|dd|ff|gg|mm|nn|pp|rr|tt)$/.test(s)) {
          if (!/^[aeo].$/.test(s.slice(0, -1))) s = s.slice(0, -1); // hopp -> hop, but add, off
        } else if (s.length === p1 && endsShort(s)) s += 'e'; // hop(ing) -> hope
      }
    }

    // Step 1c: final y/Y after a non-vowel that is not the first letter -> i.
    if (/.[^aeiouy][yY]$/.test(s)) s = s.slice(0, -1) + 'i';

    // Step 2 (in R1): ogi needs an l before it; li goes only after c d e g h k m n r t.
    if (match(RE2) && m.index >= p1) {
      if (suffix === 'ogi') {
        if (/l$/.test(stem)) s = stem + 'og';
      } else if (suffix !== 'li' || /[cdeghkmnrt]$/.test(stem)) {
        s = stem + STEP2[suffix];
      }
    }

    // Step 3 (in R1): ative must also be in R2.
    if (match(RE3) && m.index >= p1 && (suffix !== 'ative' || m.index >= p2)) {
      s = stem + STEP3[suffix];
    }

    // Step 4 (in R2): delete; ion only after s or t.
    if (match(RE4) && m.index >= p2 && (suffix !== 'ion' || /[st]$/.test(stem))) s = stem;

    // Step 5: e goes in R2, or in R1 after no short syllable; l goes after l in R2.
    var last = s.length - 1;
    if (s.charAt(last) === 'e') {
      if (last >= p2 || (last >= p1 && !endsShort(s.slice(0, last)))) s = s.slice(0, last);
    } else if (/ll$/.test(s) && last >= p2) {
      s = s.slice(0, last);
    }

    return s.replace(/Y/g, 'y');
  };
})();
