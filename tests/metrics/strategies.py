"""Hypothesis strategies for sentences that stress sacrebleu's tokenization and n-gram counting."""
from hypothesis import strategies as st

# words that exercise 13a (punctuation, digits, entities, '<skipped>', hyphens) and repeat often
WORDS = [
    "a", "a", "the", "the", "cat", "dog", "sat", "on", "mat", ".", ",", "!", "?", "3.5", "1,000", "4-5",
    "x-y", "&amp;", "&quot;", "<skipped>", "l'herbe", "(hi)", "Ünïcødé", "日本語", "naïve", "--", "...", "$",
    "ß", "İ", "\u00a0", "\t", "e\u0301",
]

word_sentences = st.lists(st.sampled_from(WORDS), max_size=14).map(" ".join)

# free text: any code point except surrogates, including unusual whitespace and punctuation
free_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30
) | st.text(alphabet=" ab.,-'\n\t\u2028\u3000\x1c", max_size=20)

sentences = st.one_of(word_sentences, free_text, st.sampled_from(["", " ", ".", "a", "a a", "a\n"]))
sentence_lists = st.lists(sentences, min_size=0, max_size=6)
