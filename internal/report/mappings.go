package report

// The mappings are data: the items of the OWASP Top 10 for LLM
// applications 2025 with the 2023 items each continues, and the articles
// of the EU AI Act (Regulation (EU) 2024/1689) the report gathers evidence
// for. Build fills in the evidence.

// OWASPEntry is one item of the OWASP Top 10 for LLM applications 2025.
type OWASPEntry struct {
	ID   string // the score's id, LLM01…LLM10
	Name string
	// Was lists the 2023 items it continues.
	Was []string
	// Probity says what evidence Probity can hold for it.
	Probity string
}

// OWASPTop10 is the 2025 list, in order.
var OWASPTop10 = []OWASPEntry{
	{"LLM01", "Prompt Injection", []string{"LLM01:2023 Prompt Injection"},
		"the injection-direct, injection-indirect and jailbreak suites; the injection detector on outputs; injection-influenced tool calls in production"},
	{"LLM02", "Sensitive Information Disclosure", []string{"LLM06:2023 Sensitive Information Disclosure"},
		"the data-exfiltration suite; pact output checks for secrets, PII and canaries"},
	{"LLM03", "Supply Chain", []string{"LLM05:2023 Supply Chain Vulnerabilities"},
		"no built-in suite or check (uploaded suites naming LLM03 count); model versions are inventoried and a model update queues a baseline"},
	{"LLM04", "Data and Model Poisoning", []string{"LLM03:2023 Training Data Poisoning"},
		"no built-in suite or check (uploaded suites naming LLM04 count)"},
	{"LLM05", "Improper Output Handling", []string{"LLM02:2023 Insecure Output Handling"},
		"the output-sanitization suite; pact output checks for XSS, SQL and shell payloads"},
	{"LLM06", "Excessive Agency", []string{"LLM08:2023 Excessive Agency"},
		"the excessive-agency and injection-indirect suites; pact scope and forbidden sequences on every tool call"},
	{"LLM07", "System Prompt Leakage", nil,
		"the system-prompt-leakage suite"},
	{"LLM08", "Vector and Embedding Weaknesses", nil,
		"no built-in suite or check (uploaded suites naming LLM08 count)"},
	{"LLM09", "Misinformation", []string{"LLM09:2023 Overreliance"},
		"accuracy datasets and the accuracy-smoke and consistency suites; accuracy commitments in pacts"},
	{"LLM10", "Unbounded Consumption", []string{"LLM04:2023 Model Denial of Service"},
		"latency and error-rate commitments in pacts"},
}

// Article is one article of the EU AI Act.
type Article struct {
	Number int
	Title  string
	// Probity says what Probity keeps that bears on it.
	Probity string
}

// EUAIActArticles are the articles the report maps evidence to.
var EUAIActArticles = []Article{
	{9, "Risk management system",
		"adversarial and accuracy evals, trust scores with decay and velocity, incident rules and their lifecycle"},
	{12, "Record-keeping",
		"every behavioral record, eval result, score, violation, incident transition and admin action is a leaf of a signed, append-only Merkle ledger"},
	{13, "Transparency and provision of information to deployers",
		"versioned pacts with digests stating what each agent may do, and signed trust attestations anyone can verify offline"},
	{14, "Human oversight",
		"suspension with a recorded reason, reactivation only with a recorded root cause, incident acknowledgement, and the delegation gate"},
	{15, "Accuracy, robustness and cybersecurity",
		"the accuracy and security dimensions, prompt-injection evals and the injection-free badge, runtime injection detection"},
}
