package main

// message is what / answers: edit it while `devloop up` runs.
const message = "hello from devloop"
