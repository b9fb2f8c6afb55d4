@testable import PromptGateCore
import Testing

@Suite("Traditional → Simplified")
struct HanConverterTests {
    @Test(arguments: [
        "這是一個繁體中文測試：後來，台灣的乾隆皇帝頭髮", "大屠殺紀念館", "甚麼計畫", "色情網站與槍支彈藥", "單于與鮮于", "mixed 漢字 and latin",
    ])
    func matchesICU(text: String) {
        let fast = HanConverter.shared.convert(text)
        #expect(fast == HanConverter.referenceConvert(text))
        #expect(fast.unicodeScalars.count == text.unicodeScalars.count)
    }

    @Test func loadsICURules() {
        #expect(HanConverter.shared.ruleCount > 3000)
    }
}
