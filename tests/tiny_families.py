"""Tiny random models of the families researchers use, each with its own real chat template as text, built in
code and saved as real Hugging Face folders (safetensors, tokenizer, config).

The templates are the families' own (trimmed of tool-calling branches): Llama-3, Qwen2.5 (ChatML with its
default system prompt), Gemma-2 (no system role; the assistant is "model"), Mistral ([INST]), Phi-3, OLMo-2.
GPT-2 and GPT-NeoX (Pythia) ship no template, so the workbench's fallback is what they are used with.
"""

from pathlib import Path

import torch
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from tiny_model import CONTEXT, CORPUS

LLAMA3 = (
    "{{- bos_token }}{%- for message in messages %}{{- '<|start_header_id|>' + message['role'] + "
    "'<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{%- endif %}"
)
QWEN2 = (
    "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\n' + messages[0]['content'] + "
    "'<|im_end|>\n' }}{%- else %}{{- '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a "
    "helpful assistant.<|im_end|>\n' }}{%- endif %}{%- for message in messages %}{%- if not (message.role == "
    "'system' and loop.first) %}{{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + "
    "'\n' }}{%- endif %}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %}"
)
GEMMA2 = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
    "{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}"
    "{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}"
)
MISTRAL = (
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% endif %}{% endfor %}"
)
PHI3 = (
    "{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\n' + message['content'] + "
    "'<|end|>\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\n' + message['content'] + '<|end|>\n'}}"
    "{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}"
)
OLMO2 = (
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'system' %}{{ '<|system|>\n' + "
    "message['content'] + '\n' }}{% elif message['role'] == 'user' %}{{ '<|user|>\n' + message['content'] + "
    "'\n' }}{% elif message['role'] == 'assistant' %}{% if not loop.last %}{{ '<|assistant|>\n' + "
    "message['content'] + eos_token + '\n' }}{% else %}{{ '<|assistant|>\n' + message['content'] + eos_token }}"
    "{% endif %}{% endif %}{% if loop.last and add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
    "{% endfor %}"
)

SIZE = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=CONTEXT)

# family: (config class, config keywords, template or None, special tokens, bos, eos (end of an assistant turn))
FAMILIES = {
    "llama": ("LlamaConfig", SIZE, LLAMA3,
              ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|end_of_text|>"],
              "<|begin_of_text|>", "<|eot_id|>"),
    "qwen2": ("Qwen2Config", SIZE, QWEN2, ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], None, "<|im_end|>"),
    "gemma2": ("Gemma2Config", {**SIZE, "head_dim": 8}, GEMMA2,
               ["<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>"], "<bos>", "<end_of_turn>"),
    "mistral": ("MistralConfig", SIZE, MISTRAL, ["<unk>", "<s>", "</s>", "[INST]", "[/INST]"], "<s>", "</s>"),
    "phi3": ("Phi3Config", {**SIZE, "num_key_value_heads": 4}, PHI3,
             ["<|endoftext|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"], None, "<|end|>"),
    "gpt2": ("GPT2Config", dict(n_embd=32, n_layer=2, n_head=4, n_positions=CONTEXT), None,
             ["<|endoftext|>"], "<|endoftext|>", "<|endoftext|>"),
    "gpt_neox": ("GPTNeoXConfig", {k: v for k, v in SIZE.items() if k != "num_key_value_heads"}, None,
                 ["<|endoftext|>", "<|padding|>"], "<|endoftext|>", "<|endoftext|>"),
    "olmo2": ("Olmo2Config", SIZE, OLMO2, ["<|endoftext|>", "<|pad|>", "<|system|>", "<|user|>", "<|assistant|>"],
              "<|endoftext|>", "<|endoftext|>"),
}


def make_tiny_family(folder: Path, family: str, seed: int = 0, **size_overrides) -> Path:
    """Write a 2-layer random model of `family` (a key of FAMILIES) and its tokenizer to `folder`."""
    config_name, size, template, specials, bos, eos = FAMILIES[family]
    size = {**size, **size_overrides}
    folder.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS, trainer)
    pad = next((s for s in specials if "pad" in s), specials[0])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=eos, pad_token=pad, bos_token=bos)
    if template:
        tokenizer.chat_template = template
    tokenizer.save_pretrained(folder)
    ids = tokenizer.convert_tokens_to_ids
    config = getattr(transformers, config_name)(
        vocab_size=len(tokenizer), eos_token_id=ids(eos), pad_token_id=ids(pad),
        bos_token_id=ids(bos) if bos else None, tie_word_embeddings=True, **size)
    torch.manual_seed(seed)
    model = transformers.AutoModelForCausalLM.from_config(config)
    model.save_pretrained(folder, safe_serialization=True)
    return folder
