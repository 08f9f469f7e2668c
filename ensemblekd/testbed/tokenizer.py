"""Train the joint subword tokenizer of the zero-shot testbed.

A unigram LM subword model (Kudo 2018, the sentencepiece algorithm, trained with the Hugging Face `tokenizers`
library) on the train text of all four Multi30k languages, with the language tags ``__en__ __de__ __fr__ __cs__``
as special tokens (one id each). The result is saved as a ``PreTrainedTokenizerFast`` folder (tokenizer.json +
tokenizer_config.json), so ``AutoTokenizer.from_pretrained(folder)`` loads it.

Special ids (fixed, matching M2M100's defaults): ``<s>`` = 0 (bos), ``<pad>`` = 1, ``</s>`` = 2 (eos and the
decoder start token), ``<unk>`` = 3, then the language tags 4..7. ``tokenizer(text)`` returns the subwords of
``text`` followed by ``</s>``; the language tag is added by the caller (see
:func:`ensemblekd.testbed.encode_sources`). Command line: ``examples/zeroshot_mt/prepare.py``.
"""

from __future__ import annotations

from pathlib import Path

from .multi30k import LANG_TOKENS, LANGS

__all__ = ["SPECIALS", "train_tokenizer", "check_tokenizer"]

SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")


def train_tokenizer(texts: list[str], out_dir: Path, vocab_size: int = 8000, langs=LANGS):
    """Train a unigram tokenizer on `texts` and save it as a PreTrainedTokenizerFast folder in `out_dir`.

    Returns the loaded ``PreTrainedTokenizerFast``. Complexity: dominated by the unigram EM over the corpus.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if vocab_size < len(SPECIALS) + len(langs) + 10:
        raise ValueError(f"vocab_size={vocab_size} is too small")
    lang_tokens = [LANG_TOKENS[lang] for lang in langs]
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIALS) + lang_tokens,
        unk_token="<unk>",
        shrinking_factor=0.75,
        max_piece_length=16,
    )
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    eos = tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", eos)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        additional_special_tokens=lang_tokens,
    )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(out_dir)
    return fast


def check_tokenizer(path: Path, samples: list[str], langs=LANGS) -> int:
    """Reload with AutoTokenizer and check special ids, single-id language tags and that every sample ends with
    </s> (``RuntimeError`` naming the folder otherwise); returns how many samples do not decode back to their
    whitespace-normalised text."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(path))
    expected = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for t, i in expected.items():
        if tok.convert_tokens_to_ids(t) != i:
            raise RuntimeError(f"{path}: special token {t} has id {tok.convert_tokens_to_ids(t)}, expected {i}")
    for lang in langs:
        ids = tok(LANG_TOKENS[lang], add_special_tokens=False)["input_ids"]
        if len(ids) != 1:
            raise RuntimeError(f"{path}: language tag {LANG_TOKENS[lang]} encodes to {ids}, expected one id")
    bad = 0
    for s in samples:
        ids = tok(s)["input_ids"]
        if ids[-1] != tok.eos_token_id:
            raise RuntimeError(f"{path}: encoding of {s!r} does not end with </s>")
        back = tok.decode(ids, skip_special_tokens=True)
        if back != " ".join(s.split()):
            bad += 1
    return bad
