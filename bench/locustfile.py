"""Locust user for `make load`: a fixed mix of the searches patients run."""

from __future__ import annotations

import random

from locust import HttpUser, between, task

PLACES = ["Houston, TX", "Boston", "Chicago", "10001", "Seattle", "Denver", "Atlanta",
          "Rochester, MN", "London", "Phoenix"]
MODALITIES = ["radiation-therapy", "chemotherapy", "surgery", "immunotherapy"]


class Patient(HttpUser):
    wait_time = between(0.05, 0.3)

    @task(4)
    def near_modality(self):
        self.client.get(f"/centers?near={random.choice(PLACES)}&radius=100"
                        f"&modality={random.choice(MODALITIES)}", name="/centers near+modality")

    @task(2)
    def country_modality(self):
        self.client.get(f"/api/v1/centers?country=US&modality={random.choice(MODALITIES)}",
                        name="/api/v1/centers country+modality")

    @task(2)
    def text(self):
        self.client.get(f"/centers?q={random.choice(['cancer', 'mayo', 'memorial', 'st'])}",
                        name="/centers q")

    @task(1)
    def center_page(self):
        self.client.get(f"/centers/{random.randint(1, 5000)}", name="/centers/<id>")

    @task(1)
    def deep_page(self):
        self.client.get(f"/centers?page={random.randint(20, 60)}", name="/centers deep page")
