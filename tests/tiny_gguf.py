"""A tiny llama GGUF file written in code (gguf-py) from the tiny random model: a real GGUF that transformers
converts in a fraction of a second, for tests of GGUF handling that need not read the built-in model's 135M
weights."""

import json
from pathlib import Path

import gguf
from safetensors.torch import load_file

from tiny_model import make_tiny_model


def make_tiny_gguf(out: Path) -> Path:
    """Write the tiny model as `out` (a .gguf file: llama architecture, its BPE tokenizer and chat template)."""
    src = make_tiny_model(out.parent / f"{out.stem}-source")
    tj = json.loads((src/'tokenizer.json').read_text())
    vocab = tj['model']['vocab']; merges = tj['model']['merges']
    merges = [" ".join(m) if isinstance(m, list) else m for m in merges]
    tokens = [None]*len(vocab)
    for t,i in vocab.items(): tokens[i]=t
    for a in tj['added_tokens']:
        if a['id'] >= len(tokens): tokens += [None]*(a['id']-len(tokens)+1)
        tokens[a['id']] = a['content']
    types = [gguf.TokenType.CONTROL if any(a['id']==i for a in tj['added_tokens']) else gguf.TokenType.NORMAL for i in range(len(tokens))]
    cfg = json.loads((src/'config.json').read_text())
    sd = load_file(str(src/'model.safetensors'))
    w = gguf.GGUFWriter(str(out), "llama")
    w.add_context_length(cfg['max_position_embeddings']); w.add_embedding_length(cfg['hidden_size']); w.add_block_count(cfg['num_hidden_layers'])
    w.add_feed_forward_length(cfg['intermediate_size']); w.add_head_count(cfg['num_attention_heads']); w.add_head_count_kv(cfg['num_key_value_heads'])
    w.add_layer_norm_rms_eps(cfg['rms_norm_eps']); w.add_rope_freq_base(cfg.get('rope_theta',10000.0))
    w.add_tokenizer_model("gpt2"); w.add_token_list(tokens); w.add_token_merges(merges); w.add_token_types(types)
    w.add_eos_token_id(cfg['eos_token_id']); w.add_pad_token_id(cfg['pad_token_id'])
    w.add_chat_template((src/'chat_template.jinja').read_text() if (src/'chat_template.jinja').exists() else json.loads((src/'tokenizer_config.json').read_text()).get('chat_template'))
    names = {"model.embed_tokens.weight":"token_embd.weight","model.norm.weight":"output_norm.weight"}
    for i in range(cfg['num_hidden_layers']):
        for a,b in [("input_layernorm","attn_norm"),("self_attn.q_proj","attn_q"),("self_attn.k_proj","attn_k"),("self_attn.v_proj","attn_v"),("self_attn.o_proj","attn_output"),("post_attention_layernorm","ffn_norm"),("mlp.gate_proj","ffn_gate"),("mlp.up_proj","ffn_up"),("mlp.down_proj","ffn_down")]:
            names[f"model.layers.{i}.{a}.weight"]=f"blk.{i}.{b}.weight"
    for k,v in sd.items():
        if k in names: w.add_tensor(names[k], v.float().numpy())
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
    return out
