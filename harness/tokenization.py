"""Tokenizers: a backbone's own (`AutoTokenizer`), or a WordPiece trained on task texts and cached."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from pathlib import Path

from transformers import PreTrainedTokenizerFast

logger = logging.getLogger(__name__)
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def corpus_key(texts_id: str, vocab_size: int) -> str:
    return hashlib.sha256(f"{texts_id}|{vocab_size}|wordpiece-v1".encode()).hexdigest()[:16]


def train_wordpiece(
    texts: Iterable[str], vocab_size: int, cache_dir: Path, texts_id: str
) -> PreTrainedTokenizerFast:
    """Train (or load from `cache_dir`) an uncased BERT-style WordPiece tokenizer.

    `texts_id` identifies the corpus (task names and data fingerprints): the same id
    loads the cached tokenizer instead of training again.
    """
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )

    folder = Path(cache_dir) / "tokenizers" / corpus_key(texts_id, vocab_size)
    if (folder / "tokenizer.json").exists():
        return PreTrainedTokenizerFast.from_pretrained(str(folder))
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, min_frequency=1
    )
    tok.train_from_iterator(texts, trainer=trainer)
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]", model_max_length=512,
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
    )  # fmt: skip
    tmp = folder.with_name(folder.name + ".tmp")
    fast.save_pretrained(str(tmp))
    tmp.replace(folder) if not folder.exists() else None
    logger.info("trained WordPiece tokenizer (%d tokens) in %s", fast.vocab_size, folder)
    return fast
