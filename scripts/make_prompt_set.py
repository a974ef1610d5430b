"""Write resources/prompts/user_prompts.txt: the shipped set of varied user prompts (one per line).

Hand-written topics x hand-written phrasings, plus hand-written stand-alone requests. Deterministic.
"""

import random
from pathlib import Path

TOPICS = [
    "photosynthesis", "the French Revolution", "compound interest", "black holes", "the water cycle",
    "machine learning", "the Roman Empire", "climate change", "vaccines", "the stock market",
    "plate tectonics", "the human immune system", "renewable energy", "the printing press", "jazz music",
    "the theory of evolution", "inflation", "the Great Wall of China", "quantum computing", "honeybees",
    "the Moon landing", "the Renaissance", "coral reefs", "electric cars", "the Internet",
    "sleep and memory", "volcanoes", "the Olympic Games", "democracy", "the periodic table",
    "meditation", "coffee", "the human heart", "rainforests", "cryptography", "the Industrial Revolution",
    "chess", "tides", "the speed of light", "ancient Egypt", "recycling", "earthquakes",
    "the violin", "bread baking", "urban gardening", "the Milky Way", "antibiotics", "the Silk Road",
    "origami", "bicycles", "hurricanes", "the English language", "public libraries", "solar panels",
    "whales", "friendship", "time management", "the Amazon River", "typography", "mountain climbing",
    "board games", "the metric system", "pottery", "volunteering", "lighthouses",
]

PHRASINGS = [
    "What is {t}?",
    "Explain {t} in simple terms.",
    "Can you give me a short summary of {t}?",
    "Why does {t} matter?",
    "Tell me an interesting fact about {t}.",
    "How would you explain {t} to a ten-year-old?",
    "What are the main ideas behind {t}?",
    "Write two sentences about {t}.",
    "I'm curious about {t}. Where should I start?",
    "What do people often get wrong about {t}?",
    "give me a quick overview of {t} please",
    "what's the history of {t}?",
]

STANDALONE = [
    "Write a haiku about autumn leaves.", "Suggest a name for a small neighbourhood bakery.",
    "How do I boil an egg?", "What should I pack for a weekend camping trip?",
    "Give me three tips for staying focused while studying.", "Write a short thank-you note to a teacher.",
    "How can I make my houseplants grow better?", "What is a good way to start learning to code?",
    "Recommend a simple dinner I can cook in twenty minutes.", "How do I politely decline an invitation?",
    "Write a limerick about a cat who loves boxes.", "What are some fun things to do on a rainy day?",
    "How many minutes are in a week?", "Translate 'good morning' into Spanish.",
    "What is the difference between weather and climate?", "How do I change a flat bicycle tyre?",
    "Write a motivational message for someone starting a new job.", "What's a healthy breakfast idea?",
    "Explain how a rainbow forms.", "Give me a riddle and its answer.",
    "How can I save money on groceries?", "What is the tallest mountain in the world?",
    "Write a two-line poem about the sea.", "How do I write a good cover letter?",
    "What are the planets in our solar system?", "Can you help me plan a birthday party for a child?",
    "How do I keep my laptop battery healthy?", "Describe a sunset in one sentence.",
    "What is the capital of Australia?", "How does a refrigerator keep food cold?",
    "Give me a tip for public speaking.", "What is 15% of 80?",
    "How do I make a cup of green tea?", "Name three animals that live in the Arctic.",
    "Write a short story opening about a lost key.", "What are good habits for a morning routine?",
    "How do airplanes stay in the air?", "Suggest a title for a mystery novel.",
    "What is the boiling point of water at sea level?", "How do I apologise to a friend?",
    "Explain what a budget is.", "Give me an idea for a science fair project.",
    "What are the primary colours?", "How can I learn a new language faster?",
    "Write a tweet announcing a new coffee shop.", "What is the largest ocean on Earth?",
    "How do I remove a coffee stain from a shirt?", "What makes a good friend?",
    "Tell me a joke about computers.", "How do I take care of a goldfish?",
    "What is the difference between a virus and a bacterium?", "Write a sentence using the word 'serendipity'.",
    "How long should I rest between workouts?", "What is the meaning of the word 'ephemeral'?",
    "Give me a packing list for a beach holiday.", "How do solar eclipses happen?",
    "What are some tips for writing clearly?", "Suggest a hobby I can start at home.",
    "How do I make a paper airplane?", "What is the population of the world, roughly?",
    "Write a short welcome message for a website.", "How do bees make honey?",
    "What should I consider when adopting a dog?", "How do I calm down before an exam?",
    "Explain what gravity does.", "Give me three synonyms for 'happy'.",
    "What is a good stretch for back pain?", "How can I be more productive working from home?",
    "Describe the taste of a lemon.", "What are the benefits of reading every day?",
    "hey, what's a fun fact about octopuses?", "can u recommend a good board game for four people",
    "I'm bored. Any ideas?", "how do i get better at drawing",
    "What's the best way to learn to juggle?", "Help me write a birthday message for my sister.",
    "Why is the sky blue?", "What is a prime number?", "How do I keep a journal?",
    "Summarise the plot of Romeo and Juliet in one sentence.",
]


def prompts() -> list[str]:
    combined = [p.format(t=t) for t in TOPICS for p in PHRASINGS] + STANDALONE
    unique = sorted(set(combined))
    random.Random(2024).shuffle(unique)
    return unique


if __name__ == "__main__":
    out = Path(__file__).resolve().parent.parent / "resources" / "prompts" / "user_prompts.txt"
    items = prompts()
    out.write_text("\n".join(items) + "\n", encoding="utf-8")
    print(f"wrote {len(items)} prompts to {out}")
