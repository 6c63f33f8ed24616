// English function words left out of keyword queries. BM25 weighs a word by its rarity in the vault,
// and in a small vault even "for" is rare: a passage sharing only "for" with the question ranked first,
// and rank fusion (which sees ranks, not scores) trusted it. Lucene's English stop set plus the words
// that open questions; docs/retrieval.md measures keyword recall with and without it.
export const STOPWORDS: ReadonlySet<string> = new Set([
  // Lucene's EnglishAnalyzer.ENGLISH_STOP_WORDS_SET
  "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no", "not", "of", "on", "or", "such",
  "that", "the", "their", "then", "there", "these", "they", "this", "to", "was", "will", "with",
  // question words and auxiliaries: in nearly every question, in few passages' meaning
  "what", "which", "who", "whom", "whose", "when", "where", "why", "how", "do", "does", "did", "were", "has", "have", "had",
]);
