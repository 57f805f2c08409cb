"""Tokenizers: a backbone's own (`AutoTokenizer`), or a WordPiece built from task texts and cached.

The WordPiece vocabulary is built deterministically (the `tokenizers` trainer is not: its
vocabulary and ids change from one process to the next, so the same suite on a fresh cache
gave different scores): the special tokens, every character seen (as a word start and as a
`##` continuation), then whole words by frequency, ties broken alphabetically, up to
`vocab_size`. Words outside the vocabulary fall back to character pieces."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from pathlib import Path

from transformers import PreTrainedTokenizerFast

from harness.cache import Cache

logger = logging.getLogger(__name__)
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def corpus_key(texts_id: str, vocab_size: int) -> str:
    return hashlib.sha256(f"{texts_id}|{vocab_size}|wordpiece-v2".encode()).hexdigest()[:16]


def wordpiece_vocab(words: Iterable[str], vocab_size: int) -> dict[str, int]:
    """Special tokens, characters (sorted), then words by (−count, word) up to `vocab_size`."""
    from collections import Counter

    counts = Counter(words)
    chars = sorted({c for w in counts for c in w})
    tokens = list(SPECIAL_TOKENS) + chars + [f"##{c}" for c in chars]
    seen = set(tokens)
    for word, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if len(tokens) >= vocab_size:
            break
        if word not in seen:
            tokens.append(word)
            seen.add(word)
    return {t: i for i, t in enumerate(tokens)}


def train_wordpiece(
    texts: Iterable[str], vocab_size: int, cache: Cache, texts_id: str
) -> PreTrainedTokenizerFast:
    """An uncased BERT-style WordPiece tokenizer, built once per corpus through the cache.

    `texts_id` identifies the corpus (task names and data fingerprints): the same id
    loads the cached tokenizer instead of building it again.
    """

    def compute(folder: Path | None) -> None:
        if folder is not None:
            build_wordpiece(texts, vocab_size).save_pretrained(str(folder))

    def load(folder: Path) -> PreTrainedTokenizerFast:
        return PreTrainedTokenizerFast.from_pretrained(str(folder))

    key = corpus_key(texts_id, vocab_size)
    return cache.get_or_compute("tokenizers", [key], compute, load, name="wordpiece")


def build_wordpiece(texts: Iterable[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """Build the tokenizer from `texts` (see the module docstring for how the vocabulary is made)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    normalizer = normalizers.BertNormalizer(lowercase=True)
    pre = pre_tokenizers.BertPreTokenizer()
    words = (w for text in texts for w, _ in pre.pre_tokenize_str(normalizer.normalize_str(text)))
    tok = Tokenizer(models.WordPiece(wordpiece_vocab(words, vocab_size), unk_token="[UNK]"))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre
    tok.decoder = decoders.WordPiece()
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=512,
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
    )
    logger.info("built WordPiece tokenizer (%d tokens)", fast.vocab_size)
    return fast
