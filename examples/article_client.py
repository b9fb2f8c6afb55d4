"""The batch client as the article this product follows writes it: 20 concurrent generations with aiohttp,
each polled every 5 seconds until it is completed or failed, then the first image's URL.

    PROMPTGATE_URL=http://127.0.0.1:8000 PROMPTGATE_KEY=<key> python3 examples/article_client.py

PROMPTGATE_POLL (seconds, default 5) and PROMPTGATE_COUNT (default 20) exist for the test that runs it.
Exit status 0 when every task completed.
"""
import asyncio
import os
import random
import sys

import aiohttp

BASE = os.environ.get("PROMPTGATE_URL", "http://127.0.0.1:8000")
KEY = os.environ.get("PROMPTGATE_KEY", "")
POLL = float(os.environ.get("PROMPTGATE_POLL", "5"))
COUNT = int(os.environ.get("PROMPTGATE_COUNT", "20"))

PRODUCTS = ["linen shirt", "leather handbag", "ceramic mug", "running shoes", "wool scarf"]


async def generate(session, index):
    headers = {"Authorization": f"Bearer {KEY}"}
    body = {
        "prompt": f"a {PRODUCTS[index % len(PRODUCTS)]} on a white background, product photo",
        "negative_prompt": "blurry, low quality, watermark",
        "width": 1024,
        "height": 1024,
        "steps": 20,
        "cfg_scale": 7.5,
        "seed": random.choice([-1, random.randint(0, 2**32 - 1)]),
        "loras": [
            {"name": "product_style", "weight": 0.8},
            {"name": "FLUX.1-Turbo-Alpha", "weight": 1.0},
        ],
    }
    async with session.post(f"{BASE}/api/v1/generate", json=body, headers=headers) as response:
        data = await response.json()
    task_id = data["task_id"]
    while True:
        async with session.get(f"{BASE}/api/v1/task/{task_id}", headers=headers) as response:
            task = await response.json()
        if task["status"] in ("completed", "failed"):
            break
        await asyncio.sleep(POLL)
    if task["status"] == "completed":
        return task["result"]["images"][0]["url"]
    raise RuntimeError(f"task {task_id} failed: {task.get('error')}")


async def main():
    async with aiohttp.ClientSession() as session:
        results = await asyncio.gather(*(generate(session, i) for i in range(COUNT)), return_exceptions=True)
    done = [r for r in results if isinstance(r, str)]
    for result in results:
        print(result if isinstance(result, str) else f"error: {result!r}")
    print(f"{len(done)}/{COUNT} completed")
    return 0 if len(done) == COUNT else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
