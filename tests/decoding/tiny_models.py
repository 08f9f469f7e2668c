"""Tiny random-init models and tokenizers trained on the fly, one per model family (no downloads).

``tiny(family)`` returns a cached :class:`Tiny` (model, tokenizer, language codes) for:

* ``m2m100``   M2M100ForConditionalGeneration + M2M100Tokenizer (sentencepiece model trained here)
* ``nllb``     M2M100 architecture + NllbTokenizer (BPE trained with ``tokenizers``)
* ``mbart50``  MBartForConditionalGeneration + MBart50Tokenizer (unigram pieces from sentencepiece)
* ``marian``   MarianMTModel + MarianTokenizer with ``>>xx<<`` target tokens (sentencepiece)
* ``t5``       T5ForConditionalGeneration + T5Tokenizer (unigram pieces from sentencepiece)
* ``gpt2``     GPT2LMHeadModel + GPT2Tokenizer (byte-level BPE trained with ``tokenizers``)
* ``qwen2``    Qwen2ForCausalLM (a Llama-style decoder: RMSNorm, rotary positions, grouped-query attention) +
  Qwen2Tokenizer with ChatML special tokens and a chat template; EOS ``<|im_end|>``, pad ``<|endoftext|>``.
  Not in ``FAMILIES`` (the per-family tests of the seq2seq API); ``tiny("qwen2")`` builds it.
* ``ekd_src`` / ``ekd_dec``  our own scheme: M2M100 architecture, PreTrainedTokenizerFast with ``__xx__``
  language tokens, config attributes ``ensemblekd_language_scheme`` = target_token_in_source / _decoder.
* ``ekd_rf``   like ``ekd_src`` on ``ensemblekd.models``' residual-free M2M100 (3 encoder layers, no
  self-attention residual in layer 1), the architecture of the shipped zero-shot model.

Weights are drawn with a large init scale so that next-token distributions are peaked (few near-ties, which
makes token-exact comparisons with ``model.generate`` meaningful), and a forward hook on the output layer makes
EOS compete so that hypotheses end at various lengths (``_eos_hook``; not saved by ``save_pretrained``).  Everything is built in a few seconds in
total and cached for the test session.
"""
from __future__ import annotations

import functools
import io
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

LANGS = ("en", "de", "fr", "cs")

CORPUS = {
    "en": [
        "A man in an orange hat is looking at something.",
        "A dog runs on the green grass in front of a white fence.",
        "A girl in a blue dress is playing with a ball.",
        "Two children are sitting on a bench in the park.",
        "A woman is reading a book at the table.",
        "The old man walks his dog along the river.",
        "People are waiting for the bus in the rain.",
        "A boy jumps into the water from a rock.",
        "Three men are working on the roof of a house.",
        "A cat sleeps on the red sofa.",
    ],
    "de": [
        "Ein Mann mit einem orangefarbenen Hut schaut etwas an.",
        "Ein Hund läuft auf dem grünen Gras vor einem weißen Zaun.",
        "Ein Mädchen in einem blauen Kleid spielt mit einem Ball.",
        "Zwei Kinder sitzen auf einer Bank im Park.",
        "Eine Frau liest ein Buch am Tisch.",
        "Der alte Mann geht mit seinem Hund am Fluss spazieren.",
        "Leute warten im Regen auf den Bus.",
        "Ein Junge springt von einem Felsen ins Wasser.",
        "Drei Männer arbeiten auf dem Dach eines Hauses.",
        "Eine Katze schläft auf dem roten Sofa.",
    ],
    "fr": [
        "Un homme avec un chapeau orange regarde quelque chose.",
        "Un chien court sur l'herbe verte devant une clôture blanche.",
        "Une fille en robe bleue joue avec un ballon.",
        "Deux enfants sont assis sur un banc dans le parc.",
        "Une femme lit un livre à la table.",
        "Le vieil homme promène son chien le long de la rivière.",
        "Des gens attendent le bus sous la pluie.",
        "Un garçon saute dans l'eau depuis un rocher.",
        "Trois hommes travaillent sur le toit d'une maison.",
        "Un chat dort sur le canapé rouge.",
    ],
    "cs": [
        "Muž v oranžovém klobouku se na něco dívá.",
        "Pes běží po zelené trávě před bílým plotem.",
        "Dívka v modrých šatech si hraje s míčem.",
        "Dvě děti sedí na lavičce v parku.",
        "Žena čte knihu u stolu.",
        "Starý muž venčí psa podél řeky.",
        "Lidé čekají na autobus v dešti.",
        "Chlapec skáče ze skály do vody.",
        "Tři muži pracují na střeše domu.",
        "Kočka spí na červené pohovce.",
    ],
}
SENTENCES = [s for lang in LANGS for s in CORPUS[lang]]

# language codes of each family for LANGS
CODES = {
    "m2m100": {lang: lang for lang in LANGS},
    "nllb": {"en": "eng_Latn", "de": "deu_Latn", "fr": "fra_Latn", "cs": "ces_Latn"},
    "mbart50": {"en": "en_XX", "de": "de_DE", "fr": "fr_XX", "cs": "cs_CZ"},
    "marian": {lang: lang for lang in LANGS},
    "t5": {lang: lang for lang in LANGS},
    "gpt2": {lang: lang for lang in LANGS},
    "ekd_src": {lang: lang for lang in LANGS},
    "ekd_dec": {lang: lang for lang in LANGS},
    "ekd_rf": {lang: lang for lang in LANGS},
}
FAMILIES = tuple(CODES)
SEQ2SEQ_FAMILIES = tuple(f for f in FAMILIES if f != "gpt2")

MAX_POSITIONS = 64
_SMALL = dict(d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
              decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, dropout=0.0,
              attention_dropout=0.0, activation_dropout=0.0, max_position_embeddings=MAX_POSITIONS,
              init_std=0.6)


@dataclass
class Tiny:
    family: str
    model: object
    tokenizer: object
    codes: dict = field(default_factory=dict)   # "de" -> the family's code for German

    def code(self, lang: str) -> str:
        return self.codes[lang]

    def save(self, path) -> Path:
        path = Path(path)
        self.model.save_pretrained(path)
        self.tokenizer.save_pretrained(path)
        return path


@functools.lru_cache(maxsize=None)
def _workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="ekd_tiny_"))


@functools.lru_cache(maxsize=None)
def _spm(kind: str, vocab_size: int = 120) -> Path:
    """Train a tiny sentencepiece unigram model on the corpus (ids: fairseq-like or T5-like)."""
    import sentencepiece as spm

    ids = dict(unk_id=0, bos_id=1, eos_id=2, pad_id=-1) if kind == "default" else \
        dict(pad_id=0, eos_id=1, unk_id=2, bos_id=-1)
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(SENTENCES), model_writer=buf, vocab_size=vocab_size, model_type="unigram",
        character_coverage=1.0, hard_vocab_limit=False, num_threads=1, minloglevel=2, **ids)
    path = _workdir() / f"{kind}.model"
    path.write_bytes(buf.getvalue())
    return path


def _spm_pieces(path: Path) -> list[tuple[str, float]]:
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(path))
    return [(sp.id_to_piece(i), float(sp.get_score(i))) for i in range(sp.get_piece_size())]


def _bpe(special: list[str], vocab_size: int = 160, byte_level: bool = False):
    """Train a tiny BPE with ``tokenizers``; returns the Tokenizer (special tokens first, in order)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token=None if byte_level else "<unk>"))
    if byte_level:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        alphabet = pre_tokenizers.ByteLevel.alphabet()
    else:
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        tok.decoder = decoders.Metaspace()
        alphabet = []
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special, initial_alphabet=alphabet,
                                  show_progress=False)
    tok.train_from_iterator(SENTENCES, trainer=trainer)
    return tok


def _bpe_vocab_merges(tok) -> tuple[dict, list]:
    state = json.loads(tok.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in state["merges"]]
    return state["vocab"], merges


def _seed():
    import torch

    torch.manual_seed(0)


def _vocab_size(tokenizer) -> int:
    """Rows of the embedding: M2M100Tokenizer puts its language ids past ``len(tokenizer)``."""
    ids = list(tokenizer.get_vocab().values()) + list(getattr(tokenizer, "lang_code_to_id", {}).values())
    return max(len(tokenizer), max(ids) + 1) + getattr(tokenizer, "num_madeup_words", 0)


def _m2m100_model(tokenizer, residual_free: bool = False, **extra):
    from transformers import M2M100Config, M2M100ForConditionalGeneration

    if residual_free:  # ensemblekd.models: M2M100 without some encoder self-attention residuals
        from ensemblekd.models.residual_free import ResidualFreeM2M100Config as M2M100Config  # noqa: N814
        from ensemblekd.models.residual_free import (  # noqa: N814
            ResidualFreeM2M100ForConditionalGeneration as M2M100ForConditionalGeneration)
    _seed()
    config = M2M100Config(vocab_size=_vocab_size(tokenizer), pad_token_id=tokenizer.pad_token_id,
                          bos_token_id=tokenizer.bos_token_id if tokenizer.bos_token_id is not None else 0,
                          eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=tokenizer.eos_token_id,
                          **{**_SMALL, **extra})
    return M2M100ForConditionalGeneration(config).eval()


def _build_m2m100() -> Tiny:
    from transformers import M2M100Tokenizer

    spm_path = _spm("default")
    pieces = [p for p, _ in _spm_pieces(spm_path) if p not in ("<unk>", "<s>", "</s>")]
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for p in pieces:
        vocab.setdefault(p, len(vocab))
    d = _workdir() / "m2m100"
    d.mkdir(exist_ok=True)
    (d / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    tokenizer = M2M100Tokenizer(vocab_file=str(d / "vocab.json"), spm_file=str(spm_path))
    return Tiny("m2m100", _m2m100_model(tokenizer), tokenizer, CODES["m2m100"])


def _build_nllb() -> Tiny:
    from transformers import NllbTokenizer

    vocab, merges = _bpe_vocab_merges(_bpe(["<s>", "<pad>", "</s>", "<unk>"]))
    tokenizer = NllbTokenizer(vocab=vocab, merges=merges)
    return Tiny("nllb", _m2m100_model(tokenizer), tokenizer, CODES["nllb"])


def _build_mbart50() -> Tiny:
    from transformers import MBart50Tokenizer, MBartConfig, MBartForConditionalGeneration

    tokenizer = MBart50Tokenizer(vocab=_spm_pieces(_spm("default")))
    _seed()
    config = MBartConfig(vocab_size=_vocab_size(tokenizer), pad_token_id=tokenizer.pad_token_id, bos_token_id=0,
                         eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=tokenizer.eos_token_id,
                         forced_eos_token_id=tokenizer.eos_token_id, **_SMALL)  # as real mBART-50 configs
    return Tiny("mbart50", MBartForConditionalGeneration(config).eval(), tokenizer, CODES["mbart50"])


def _build_marian() -> Tiny:
    import warnings

    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    spm_path = _spm("default")
    vocab = {"</s>": 0, "<unk>": 1}
    for lang in LANGS:
        vocab[f">>{lang}<<"] = len(vocab)
    for p, _ in _spm_pieces(spm_path):
        if p not in ("<unk>", "<s>", "</s>"):
            vocab.setdefault(p, len(vocab))
    vocab["<pad>"] = len(vocab)
    d = _workdir() / "marian"
    d.mkdir(exist_ok=True)
    (d / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # "Recommended: pip install sacremoses."
        tokenizer = MarianTokenizer(source_spm=str(spm_path), target_spm=str(spm_path), vocab=str(d / "vocab.json"))
    _seed()
    pad = vocab["<pad>"]
    small = {k: v for k, v in _SMALL.items()}
    config = MarianConfig(vocab_size=len(vocab), pad_token_id=pad, decoder_start_token_id=pad, eos_token_id=0,
                          bos_token_id=None, forced_eos_token_id=0, **small)  # as real opus-mt configs
    return Tiny("marian", MarianMTModel(config).eval(), tokenizer, CODES["marian"])


def _build_t5() -> Tiny:
    from transformers import T5Config, T5ForConditionalGeneration, T5Tokenizer

    tokenizer = T5Tokenizer(vocab=_spm_pieces(_spm("t5")), extra_ids=0)
    _seed()
    config = T5Config(vocab_size=_vocab_size(tokenizer), d_model=16, d_kv=8, d_ff=32, num_layers=1, num_decoder_layers=1,
                      num_heads=2, dropout_rate=0.0, initializer_factor=2.0, pad_token_id=0, eos_token_id=1,
                      decoder_start_token_id=0, n_positions=MAX_POSITIONS)
    return Tiny("t5", T5ForConditionalGeneration(config).eval(), tokenizer, CODES["t5"])


def _build_gpt2() -> Tiny:
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2Tokenizer

    vocab, merges = _bpe_vocab_merges(_bpe(["<|endoftext|>"], vocab_size=300, byte_level=True))
    tokenizer = GPT2Tokenizer(vocab=vocab, merges=merges)
    _seed()
    config = GPT2Config(vocab_size=_vocab_size(tokenizer), n_positions=2 * MAX_POSITIONS, n_embd=16, n_layer=1, n_head=2,
                        bos_token_id=0, eos_token_id=0, initializer_range=0.6, resid_pdrop=0.0, embd_pdrop=0.0,
                        attn_pdrop=0.0)
    return Tiny("gpt2", GPT2LMHeadModel(config).eval(), tokenizer, CODES["gpt2"])


CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def _build_qwen2() -> Tiny:
    from transformers import Qwen2Config, Qwen2ForCausalLM, Qwen2Tokenizer

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    vocab, merges = _bpe_vocab_merges(_bpe(specials, vocab_size=300, byte_level=True))
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=merges, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tokenizer.chat_template = CHATML
    _seed()
    config = Qwen2Config(vocab_size=_vocab_size(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=2 * MAX_POSITIONS,
                         initializer_range=0.6, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, bos_token_id=None, tie_word_embeddings=False)
    model = Qwen2ForCausalLM(config).eval()
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return Tiny("qwen2", model, tokenizer, CODES["gpt2"])


def _build_ekd(scheme: str, residual_free: bool = False) -> Tiny:
    from transformers import PreTrainedTokenizerFast

    lang_tokens = {lang: f"__{lang}__" for lang in LANGS}
    from tokenizers import processors

    tok = _bpe(["<s>", "<pad>", "</s>", "<unk>", *lang_tokens.values()])
    # like examples/zeroshot_mt/prepare.py: the tokenizer itself appends </s>
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>",
                                                       special_tokens=[("</s>", tok.token_to_id("</s>"))])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", pad_token="<pad>", eos_token="</s>",
                                        unk_token="<unk>",
                                        additional_special_tokens=list(lang_tokens.values()))
    extra = dict(encoder_layers=3, encoder_no_residual_layers=[1]) if residual_free else {}
    model = _m2m100_model(tokenizer, residual_free, ensemblekd_language_scheme=scheme,
                          ensemblekd_language_tokens=lang_tokens, **extra)
    family = "ekd_rf" if residual_free else "ekd_src" if scheme == "target_token_in_source" else "ekd_dec"
    return Tiny(family, model, tokenizer, CODES[family])


_BUILDERS = {
    "m2m100": _build_m2m100,
    "nllb": _build_nllb,
    "mbart50": _build_mbart50,
    "marian": _build_marian,
    "t5": _build_t5,
    "gpt2": _build_gpt2,
    "qwen2": _build_qwen2,
    "ekd_src": lambda: _build_ekd("target_token_in_source"),
    "ekd_dec": lambda: _build_ekd("target_token_in_decoder"),
    "ekd_rf": lambda: _build_ekd("target_token_in_source", residual_free=True),
}


# (a, c) of the EOS hook per family (tuned so that hypotheses finish at lengths ~0..12 with max_new_tokens=12)
_EOS_SHAPE = {"marian": (2.0, 1.0), "mbart50": (2.0, 2.0), "gpt2": (2.0, 2.0), "qwen2": (2.0, 2.0)}


def _eos_hook(model, a: float, c: float):
    """Make EOS compete: its logit becomes ``max(logits) + a * tanh(z) - c`` with z its standardised random-init
    logit, so p(EOS) varies with the state.  Random-init models otherwise never end a hypothesis, and the length
    penalty / early-stopping rules would go untested.  Both ``generate`` and our scorers see the hook."""
    eos = model.config.eos_token_id

    def hook(module, inputs, logits):
        logits = logits.clone()
        z = logits[..., eos] / logits.std(-1)
        logits[..., eos] = logits.max(-1).values + a * z.tanh() - c
        return logits

    return model.get_output_embeddings().register_forward_hook(hook)


@functools.lru_cache(maxsize=None)
def tiny(family: str) -> Tiny:
    """The cached tiny model + tokenizer of ``family`` (one of ``FAMILIES``).

    Also makes torch single-threaded: tiny models gain nothing from threads, and on a shared machine
    spinning worker threads cost ~20x the CPU time.
    """
    import torch

    torch.set_num_threads(1)
    t = _BUILDERS[family]()
    _eos_hook(t.model, *_EOS_SHAPE.get(family, (2.0, 2.5)))
    return t


def perturbed(model, seed: int, scale: float = 0.5):
    """Another model of the same architecture and vocabulary (a copy with noise on every weight)."""
    import copy

    import torch

    other = copy.deepcopy(model)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(torch.randn(p.shape, generator=g) * scale * p.std().clamp(min=1e-3))
    return other.eval()
