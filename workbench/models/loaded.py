"""A model ready for work: weights, tokenizer, placement, identity, chat rendering."""

import re
from dataclasses import asdict, dataclass, field
from functools import cached_property

import torch

from ..errors import WorkbenchError
from .architecture import Architecture, find_architecture, n_layers_of
from .device import Placement, memory_report

# Used only when a model ships no chat template of its own; recorded so the rendering is known.
FALLBACK_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ message['role'] | capitalize }}: {{ message['content'] }}\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}"
)

FALLBACK_TEMPLATE_NOTE = ("This model ships no chat template: turns are rendered as 'User: ...' and 'Assistant:' lines "
                          "(the workbench's fallback), a format the model was never trained to follow.")


@dataclass(frozen=True)
class ModelIdentity:
    """Which weights these are: enough to tell two models apart in the session database."""

    name: str
    source: str  # "builtin", "hf-folder", "hf-cache" (a model name found in the Hugging Face cache) or "gguf"
    path: str
    fingerprint: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class LoadedModel:
    """A causal LM with its tokenizer, on its device, ready to decode."""

    model: torch.nn.Module
    tokenizer: object
    identity: ModelIdentity
    placement: Placement
    load_seconds: float = 0.0
    adapter: str | None = None
    chat_template_is_fallback: bool = False
    eos_token_ids: frozenset = field(default_factory=frozenset)

    architecture: Architecture | None = None
    quantization: str | None = None  # "8bit" or "4bit" (bitsandbytes), None for full-precision weights

    def __post_init__(self):
        if not self.eos_token_ids:
            self.eos_token_ids = frozenset(_eos_ids(self.model, self.tokenizer))
        if self.architecture is None:  # read off the bare model, before any adapter wraps its modules
            self.architecture = find_architecture(self.model)

    @property
    def n_layers(self) -> int:
        return n_layers_of(self.model)

    def put_weights(self, model, adapter: str | None) -> None:
        """Generate with `model` from now on: these base weights, bare or wrapped by peft, under the adapter name
        `adapter` (None: the bare base). Attaching, detaching and training change the model only through here and
        `back_to_base`."""
        self.model, self.adapter = model, adapter

    def back_to_base(self) -> None:
        """The bare base model again: every LoRA layer an adapter or a training run put in is taken out (the base
        weights are untouched) and no adapter is named."""
        from .adapters import strip_lora, unload_peft

        model = unload_peft(self.model)
        strip_lora(model)
        self.put_weights(model, None)

    @property
    def pad_token_id(self) -> int:
        """The id that fills a batch's short rows (always masked out): the tokenizer's pad token, or for a model
        without one (Llama 3, GPT-2) an end-of-turn token."""
        if self.tokenizer.pad_token_id is not None:
            return int(self.tokenizer.pad_token_id)
        return min(self.eos_token_ids) if self.eos_token_ids else 0

    @property
    def context_length(self) -> int:
        cfg = self.model.config
        return int(getattr(cfg, "max_position_embeddings", None) or getattr(self.tokenizer, "model_max_length", 2048))

    @property
    def chat_template(self) -> str:
        return self.tokenizer.chat_template or FALLBACK_CHAT_TEMPLATE

    @property
    def chat_template_source(self) -> str:
        """'model' (its own template) or 'fallback' (FALLBACK_CHAT_TEMPLATE: the model ships none)."""
        return "fallback" if self.chat_template_is_fallback else "model"

    def render_chat(self, messages: list[dict]) -> str:
        """The chat template applied to `messages`, ending with the assistant's turn opening."""
        return self.tokenizer.apply_chat_template(
            messages, chat_template=self.chat_template, add_generation_prompt=True, tokenize=False
        )

    def encode_chat(self, messages: list[dict], raw_special_tokens: bool = False) -> list[int]:
        """Token ids of the rendered chat, ready to be continued by the assistant. Only the chat template places
        special tokens: a marker such as `<|im_end|>` typed inside a message stays literal text, unless
        `raw_special_tokens` (a researcher studying template attacks, on purpose)."""
        text = self.render_chat(messages)
        if raw_special_tokens or not self._mentions_added_tokens(messages):
            return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        encoded = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        spans = self._content_spans(messages, text)
        ids: list[int] = []
        for token, (start, end) in zip(encoded["input_ids"], encoded["offset_mapping"]):
            if token in self._added_tokens and any(a <= start and end <= b for a, b in spans):
                ids += self.encode_text(text[start:end])  # a marker the person typed: its characters, as text
            else:
                ids.append(token)
        return ids

    def encode_text(self, text: str, raw_special_tokens: bool = False) -> list[int]:
        """Token ids of text from a person or a file (a prefill, an edit, an answer to train on): special-token
        strings in it stay literal text unless `raw_special_tokens`."""
        return list(self.tokenizer(text, add_special_tokens=False,
                                   split_special_tokens=not raw_special_tokens)["input_ids"])

    @cached_property
    def _added_tokens(self) -> dict[int, str]:
        """The tokenizer's added tokens (the chat markers among them), id -> text; read once, every chat encodes."""
        return {i: str(t) for i, t in (getattr(self.tokenizer, "added_tokens_decoder", {}) or {}).items()}

    def _mentions_added_tokens(self, messages: list[dict]) -> bool:
        return any(m and m in str(message.get("content", "")) for message in messages
                   for m in self._added_tokens.values())

    def _content_spans(self, messages: list[dict], text: str) -> list[tuple[int, int]]:
        """Where each message's content sits in the rendered `text` (the template may trim it)."""
        marked = self.render_chat([{**m, "content": f"\ue000{i}\ue001"} for i, m in enumerate(messages)])
        parts = re.split("\ue000(\\d+)\ue001", marked)
        spans, pos = [], 0
        for k, part in enumerate(parts):
            if k % 2 == 0:
                if not text.startswith(part, pos):
                    break
                pos += len(part)
                continue
            content, following = str(messages[int(part)]["content"]), parts[k + 1]
            for shown in (content, content.strip(), content.lstrip(), content.rstrip()):
                if text.startswith(shown + following, pos):
                    spans.append((pos, pos + len(shown)))
                    pos += len(shown)
                    break
            else:
                break
        else:
            return spans
        raise WorkbenchError("Cannot tell the typed text from this model's chat template, so a chat marker typed "
                             "in the text cannot be kept literal; remove the marker or turn on raw special tokens")

    def encode_user(self, text: str) -> list[int]:
        """Token ids of a one-message chat (the user's `text`), ready for the assistant's answer."""
        return self.encode_chat([{"role": "user", "content": text}])

    def describe(self) -> dict:
        """What the info command and the status bar show."""
        return {
            "model": self.identity.to_dict(),
            "adapter": self.adapter,
            "device": self.placement.device,
            "dtype": self.placement.dtype_name,
            "quantization": self.quantization,
            "devices": self.devices(),
            "layers": self.n_layers,
            "architecture": self.architecture.to_dict(),
            "chat_template": self.chat_template_source,
            "context_length": self.context_length,
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "load_seconds": round(self.load_seconds, 3),
            "memory": memory_report(self.placement.device),
        }

    def devices(self) -> list[str]:
        """Where the weights live: one device, or several when the model is split (device_map auto)."""
        spread = getattr(self.model, "hf_device_map", None) or {}
        named = sorted({_device_name(d) for d in spread.values()})
        return named or [self.placement.device]


def _device_name(device) -> str:
    return f"cuda:{device}" if isinstance(device, int) else str(device)


def _eos_ids(model, tokenizer) -> set[int]:
    ids: set[int] = set()
    gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for value in (gen_eos, getattr(tokenizer, "eos_token_id", None)):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(int(v) for v in value)
    return ids
