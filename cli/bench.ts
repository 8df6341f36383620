export async function benchCommand(){}
