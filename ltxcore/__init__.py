"""extend-suffix core library: request contract, media, dataset, model, training, sampling. Never imports Prefect."""
